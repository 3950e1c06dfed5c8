import { HTTP_FAILURE_TEXT, httpFaultCases } from '../../emulators/http-fault-cases.js';
import type { Conformance } from '../kit.js';
import { BITRIX_TEST_SECRET, type PortalSpec } from './emulator/index.js';
import type { Bitrix24Emulator } from './emulator/server.js';

type Portals = Map<string, Bitrix24Emulator>;

/** The test set-up's one portal (`portal-a`), which every lookup without a `portal` argument reaches. */
const only = (portals: Portals): Bitrix24Emulator => portals.values().next().value!;

/**
 * Bitrix24 for the conformance suite (test/conformance/): `im.user.list.get` (several in one `batch`
 * request), and how a portal fails. One HTTP request is one call, whatever commands it carries.
 */
export const bitrix24Conformance: Conformance<{ portals?: PortalSpec[] } | undefined, Portals> = {
  root: { field: 'bitrix24Users', argument: 'ids' },
  entity: { typename: 'Bitrix24User', representation: { portal: 'portal-a' } },
  known: (count, from = 1) => Array.from({ length: count }, (_, i) => String(from + i)),
  unknown: '99999',
  invalid: ['0', '01', '1.0', '2147483648', '12345678901'],
  // 50 commands of 2 ids per batch request: 100 ids a call (50 × 50 = 2,500 by default).
  batching: { idsPerCall: 100, env: { BITRIX24_MAX_IDS_PER_CALL: '2' } },
  selections: [
    { selection: 'id', asks: '' },
    { selection: 'id name workPosition active', asks: '' },
    { selection: 'id avatarHr', asks: 'AVATAR_HR=Y' },
  ],
  lookups: (portals) =>
    [...portals.values()]
      .flatMap((portal) => portal.requests)
      .filter((r) => r.method === 'im.user.list.get' || r.method === 'batch')
      .map((r) => ({ ids: (r.ids ?? []).map(String), asks: r.avatarHr ? 'AVATAR_HR=Y' : '' })),
  requests: (portals) => [...portals.values()].flatMap((portal) => portal.requests.map((r) => r.method)),
  lookupRequest: 'im.user.list.get',
  onClock: ({ frozen }) => ({ portals: [{ name: 'portal-a', emulator: { clock: frozen } }] }),
  slow: (portals, ms) => {
    for (const portal of portals.values()) portal.faults.always({ kind: 'slow', ms });
  },
  faults: (budget) => {
    const { attempts } = budget;
    const lookup = (count: number) => Array.from({ length: count }, () => 'im.user.list.get');
    return [
      {
        name: 'records of ids nobody asked (each id shifted, under the keys asked)',
        inject: (portals) =>
          only(portals).failNext(1, {
            kind: 'rewrite',
            rewrite: (body) => {
              const answer = JSON.parse(body) as { result: Record<string, { id: number | string } | null> };
              for (const user of Object.values(answer.result)) if (user !== null) user.id = Number(user.id) + 1_000_000;
              return JSON.stringify(answer);
            },
          }),
        code: 'UPSTREAM_UNAVAILABLE',
        requests: lookup(1),
      },
      {
        name: '401 NO_AUTH_FOUND (credentials refused)',
        inject: (portals) => only(portals).failNext(1, { kind: 'status', status: 401 }),
        code: 'UNAUTHENTICATED',
        requests: lookup(1),
      },
      {
        // QUERY_LIMIT_EXCEEDED: the portal's leaky bucket overflowed; it drains in a moment, so it is retried with backoff.
        name: '503 QUERY_LIMIT_EXCEEDED, every attempt',
        inject: (portals) => only(portals).failNext(attempts, { kind: 'status', status: 503 }),
        code: 'RATE_LIMITED',
        requests: lookup(attempts),
      },
      {
        // OPERATION_TIME_LIMIT: the method's time budget is spent until its window resets (10 minutes, per the `time` block).
        name: '429 OPERATION_TIME_LIMIT',
        inject: (portals) => only(portals).failNext(1, { kind: 'status', status: 429 }),
        code: 'RATE_LIMITED',
        retryAfter: 600,
        requests: lookup(1),
      },
      {
        name: '500 INTERNAL_SERVER_ERROR, every attempt',
        inject: (portals) => only(portals).failNext(attempts, { kind: 'status', status: 500 }),
        code: 'UPSTREAM_UNAVAILABLE',
        requests: lookup(attempts),
      },
      ...httpFaultCases<Portals>(
        (portals, count, fault) => only(portals).failNext(count, fault),
        'im.user.list.get',
        16 * 1024 * 1024,
        budget,
      ),
    ];
  },
  secrets: [BITRIX_TEST_SECRET],
  upstreamText: [...HTTP_FAILURE_TEXT, 'QUERY_LIMIT_EXCEEDED', 'OPERATION_TIME_LIMIT', 'INTERNAL_SERVER_ERROR', 'NO_AUTH_FOUND'],
};
