import type { EmulatorClock } from '../../../src/emulators/clock.js';
import { HTTP_FAILURE_TEXT, httpFaultCases } from '../../../src/emulators/http-fault-cases.js';
import type { ProviderKit } from '../../../src/providers/kit.js';
import { ACME_TEST_KEY, type AcmeEmulator, start } from './emulator.js';
import { acmeProvider } from './provider.js';

/** Acme's test kit: what a provider folder's `kit.ts` and `conformance.ts` hold, in one place. */
export const acmeKit = {
  name: 'acme' as const,
  provider: acmeProvider,
  start,
  conformance: {
    root: { field: 'acmePeople', argument: 'ids' },
    entity: { typename: 'AcmePerson' },
    known: (count, from = 1) => Array.from({ length: count }, (_, i) => String(from + i)),
    unknown: '7777',
    invalid: ['0', '0042', '1234567890'],
    batching: { idsPerCall: 50 },
    selections: [
      { selection: 'id', asks: '' },
      { selection: 'id displayName', asks: '' },
      { selection: 'id email', asks: 'email' },
      { selection: 'id displayName email title', asks: 'email,title' },
    ],
    lookups: (acme) => acme.requests.filter((r) => r.path === '/v1/people').map((r) => ({ ids: r.ids, asks: r.fields })),
    requests: (acme) => acme.requests.map((r) => r.path),
    lookupRequest: '/v1/people',
    onClock: ({ frozen }) => ({ clock: frozen }),
    slow: (acme, ms) => acme.faults.always({ kind: 'slow', ms }),
    faults: (budget) => [
      {
        name: '401 invalid_key',
        inject: (acme) => acme.failNext(1, { kind: 'status', status: 401 }),
        code: 'UNAUTHENTICATED',
        requests: ['/v1/people'],
      },
      {
        name: '429 with Retry-After: 30 (beyond the wait cap)',
        inject: (acme) => acme.failNext(1, { kind: 'status', status: 429 }),
        code: 'RATE_LIMITED',
        retryAfter: 30,
        requests: ['/v1/people'],
      },
      {
        name: '503 maintenance, every attempt',
        inject: (acme) => acme.failNext(budget.attempts, { kind: 'status', status: 503 }),
        code: 'UPSTREAM_UNAVAILABLE',
        requests: Array.from({ length: budget.attempts }, () => '/v1/people'),
      },
      ...httpFaultCases<AcmeEmulator>((acme, count, fault) => acme.failNext(count, fault), '/v1/people', 1024 * 1024, budget),
    ],
    secrets: [ACME_TEST_KEY],
    upstreamText: [...HTTP_FAILURE_TEXT, 'invalid_key', 'slow_down', 'maintenance'],
  },
} satisfies ProviderKit<{ clock?: EmulatorClock } | undefined, AcmeEmulator>;
