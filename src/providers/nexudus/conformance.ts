import { HTTP_FAILURE_TEXT, httpFaultCases } from '../../emulators/http-fault-cases.js';
import type { Conformance } from '../kit.js';
import { NEXUDUS_LOGIN, NEXUDUS_STATIC_TOKEN, type start } from './emulator/index.js';
import type { NexudusEmulator } from './emulator/server.js';

/**
 * Nexudus for the conformance suite (test/conformance/): the list call (`GET /api/sys/users/?id=[..]`,
 * partial records) or, for a full-record field, one `GET /api/sys/users/{id}` per id; and how Nexudus fails.
 */
export const nexudusConformance: Conformance<Parameters<typeof start>[1], NexudusEmulator> = {
  root: { field: 'nexudusUsers', argument: 'ids' },
  entity: { typename: 'NexudusUser' },
  known: (count, from = 1) => Array.from({ length: count }, (_, i) => String(from + i)),
  unknown: '999999',
  invalid: ['0', '01', '1234567890123'],
  batching: { idsPerCall: 100 },
  selections: [
    { selection: 'id', asks: 'list' },
    { selection: 'id fullName email active', asks: 'list' },
    { selection: 'id isAdmin roles', asks: 'single', perId: true },
  ],
  lookups: (nexudus) =>
    nexudus.requests.filter((r) => r.kind === 'list' || r.kind === 'single').map((r) => ({ ids: (r.ids ?? []).map(String), asks: r.kind })),
  requests: (nexudus) => nexudus.requests.map((r) => r.kind),
  lookupRequest: 'list',
  // Its throttle counts real time passing: its clock runs on.
  onClock: ({ running }) => ({ clock: running }),
  slow: (nexudus, ms) => nexudus.faults.always({ kind: 'slow', ms }),
  faults: (budget) => [
    {
      name: 'records of ids nobody asked (each id shifted)',
      inject: (nexudus) =>
        nexudus.failNext(1, {
          kind: 'rewrite',
          rewrite: (body) =>
            JSON.stringify((JSON.parse(body) as Array<{ Id: number }>).map((user) => ({ ...user, Id: user.Id + 1_000_000 }))),
        }),
      code: 'UPSTREAM_UNAVAILABLE',
      requests: ['list'],
    },
    // A 401 renews the account's token once (a refresh-token grant) and asks again; refused again, it is final.
    {
      name: '401 (credentials refused), twice',
      inject: (nexudus) => nexudus.failNext(2, { kind: 'status', status: 401 }),
      code: 'UNAUTHENTICATED',
      requests: ['list', 'token', 'list'],
    },
    // Retry-After: 1 is more than UPSTREAM_MAX_RETRY_WAIT_MS allows: failed at once with it as retryAfter.
    {
      name: '409 with Retry-After: 1',
      inject: (nexudus) => nexudus.failNext(1, { kind: 'status', status: 409 }),
      code: 'RATE_LIMITED',
      retryAfter: 1,
      requests: ['list'],
    },
    {
      name: '500, every attempt',
      inject: (nexudus) => nexudus.failNext(budget.attempts, { kind: 'status', status: 500 }),
      code: 'UPSTREAM_UNAVAILABLE',
      requests: Array.from({ length: budget.attempts }, () => 'list'),
    },
    ...httpFaultCases<NexudusEmulator>((nexudus, count, fault) => nexudus.failNext(count, fault), 'list', 4 * 1024 * 1024, budget),
  ],
  secrets: [NEXUDUS_LOGIN.password, NEXUDUS_STATIC_TOKEN],
  upstreamText: [...HTTP_FAILURE_TEXT, 'Authorization has been denied', 'An error has occurred', 'Wrong authorization data'],
};
