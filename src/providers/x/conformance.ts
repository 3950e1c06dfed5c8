import { HTTP_FAILURE_TEXT, httpFaultCases } from '../../emulators/http-fault-cases.js';
import type { Conformance } from '../kit.js';
import { X_TEST_TOKEN } from './emulator/index.js';
import type { XEmulator, XEmulatorOptions } from './emulator/server.js';

/** A lookup call's query beyond its ids, as one canonical string: `key=a,b&key=c`, keys and values sorted. */
function asked(query: Readonly<Record<string, string>>): string {
  return Object.keys(query)
    .filter((key) => key !== 'ids')
    .sort()
    .map((key) => `${key}=${query[key]!.split(',').sort().join(',')}`)
    .join('&');
}

/** X for the conformance suite (test/conformance/): `GET /2/users`, and how X fails. */
export const xConformance: Conformance<Partial<XEmulatorOptions> | undefined, XEmulator> = {
  root: { field: 'xUsers', argument: 'ids' },
  entity: { typename: 'XUser' },
  known: (count, from = 1) => Array.from({ length: count }, (_, i) => String(from + i)),
  unknown: '55555',
  invalid: ['12345678901234567890', '12a', 'x', '0', '007', '9223372036854775808'],
  batching: { idsPerCall: 100 },
  selections: [
    { selection: 'id', asks: '' },
    // id, name and username come with every user: nothing is asked for them.
    { selection: 'id name username', asks: '' },
    { selection: 'id description location', asks: 'user.fields=description,location' },
    // An expansion needs its id field, which X sends only when asked for.
    {
      selection: 'id pinnedTweet { id text createdAt }',
      asks: 'expansions=pinned_tweet_id&tweet.fields=created_at&user.fields=pinned_tweet_id',
    },
  ],
  lookups: (x) =>
    x.requests.filter((r) => r.path === '/2/users').map((r) => ({ ids: (r.query.ids ?? '').split(','), asks: asked(r.query) })),
  requests: (x) => x.requests.map((r) => r.path),
  lookupRequest: '/2/users',
  onClock: ({ frozen }) => ({ clock: frozen }),
  slow: (x, ms) => x.faults.always({ kind: 'slow', ms }),
  faults: (budget) => [
    {
      name: 'records of ids nobody asked (each id shifted)',
      inject: (x) =>
        x.failNext(1, {
          kind: 'rewrite',
          rewrite: (body) => {
            const answer = JSON.parse(body) as { data?: Array<{ id: string }> };
            for (const user of answer.data ?? []) user.id = String(BigInt(user.id) + 1_000_000n);
            return JSON.stringify(answer);
          },
        }),
      code: 'UPSTREAM_UNAVAILABLE',
      requests: ['/2/users'],
    },
    {
      name: '401 (credentials refused)',
      inject: (x) => x.failNext(1, { kind: 'status', status: 401 }),
      code: 'UNAUTHENTICATED',
      requests: ['/2/users'],
    },
    {
      name: '429 with x-rate-limit-reset 600 s away',
      inject: (x, wallNowMs) =>
        x.failNext(1, {
          kind: 'status',
          status: 429,
          headers: { 'x-rate-limit-limit': '300', 'x-rate-limit-remaining': '0', 'x-rate-limit-reset': String(wallNowMs / 1000 + 600) },
        }),
      // Past UPSTREAM_MAX_RETRY_WAIT_MS: failed at once with X's reset as retryAfter, not waited out; and until
      // the reset, X is not asked again.
      code: 'RATE_LIMITED',
      retryAfter: 600,
      requests: ['/2/users'],
      remembered: true,
    },
    {
      name: '503, every attempt',
      inject: (x) => x.failNext(budget.attempts, 503),
      code: 'UPSTREAM_UNAVAILABLE',
      requests: Array.from({ length: budget.attempts }, () => '/2/users'),
    },
    ...httpFaultCases<XEmulator>((x, count, fault) => x.failNext(count, fault), '/2/users', 4 * 1024 * 1024, budget),
  ],
  secrets: [X_TEST_TOKEN],
  upstreamText: [...HTTP_FAILURE_TEXT, 'Unauthorized', 'Too Many Requests'],
};
