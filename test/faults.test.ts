import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { type Clock, systemClock } from '../src/core/clock.js';
import type { ErrorCode } from '../src/core/errors.js';
import type { EmulatorClock } from '../src/emulators/clock.js';
import type { HttpFault } from '../src/emulators/fault-queue.js';
import { BITRIX_TEST_SECRET } from '../src/providers/bitrix24/emulator/index.js';
import { NEXUDUS_LOGIN, NEXUDUS_STATIC_TOKEN } from '../src/providers/nexudus/emulator/index.js';
import { X_TEST_TOKEN } from '../src/providers/x/emulator/index.js';
import { type GqlResult, type Harness, type HarnessOptions, startHarness } from './support/harness.js';

/**
 * The fault matrix: every provider × every way its upstream can fail, through the real server over
 * HTTP against the emulators. Each row asserts exactly what the caller gets (HTTP 200, `null` at each
 * affected index with the README's `extensions.code`, provider and id, nothing of the upstream's
 * body), how many requests the upstream saw (retries included), that the other providers' data in the
 * same operation is kept, and that the next operation succeeds. A row that shows a bug in production
 * code is written as it should behave and marked `it.fails` with a `// BUG:` comment.
 *
 * Each row has its own subgraph (a client keeps rate-limit windows, tokens and circuits across
 * operations), on one clock shared with the emulators: the subgraph's wall time and that of the X and
 * Bitrix24 emulators stand still, so every `retryAfter` they derive from an absolute reset is exact,
 * and `advance()` moves every clock at once (past X's rate-limit reset) instead of waiting.
 */

// ---------------------------------------------------------------------------------------------
// Clocks.

/** A whole second, so a reset "in 600 s" is 600 s from the subgraph's point of view too. */
const WALL_START = Date.UTC(2025, 5, 2, 12, 0, 0);

class TestClock implements Clock {
  private offsetMs = 0;
  readonly setTimer = systemClock.setTimer;

  /** Real monotonic time, plus what `advance` added: waits, pacing and deadlines still run on real timers. */
  now(): number {
    return performance.now() + this.offsetMs;
  }

  wallNow(): number {
    return WALL_START + this.offsetMs;
  }

  /** Moves every clock forward by `ms` at once. */
  advance(ms: number): void {
    this.offsetMs += ms;
  }

  /** The X and Bitrix24 emulators' time: the subgraph's wall time, standing still but for `advance`. */
  readonly frozen: EmulatorClock = { now: () => this.wallNow() };
  /** The Nexudus emulator's: real time (its throttle needs time to pass), moved by `advance` too. */
  readonly running: EmulatorClock = { now: () => Date.now() + this.offsetMs };
}

// ---------------------------------------------------------------------------------------------
// The operation: two ids of every provider, so a fault of one shows beside the others' data.

const OPERATION = `{
  x: xUsers(ids: ["1", "2"]) { id displayName }
  telegram: telegramUsers(ids: ["1", "2"]) { id displayName }
  bitrix24: bitrix24Users(ids: ["1", "2"]) { id displayName }
  nexudus: nexudusUsers(ids: ["1", "2"]) { id displayName }
}`;

type Provider = 'x' | 'telegram' | 'bitrix24' | 'nexudus';
const PROVIDERS: readonly Provider[] = ['x', 'telegram', 'bitrix24', 'nexudus'];

/** The harness's one Bitrix24 portal. */
const portal = (h: Harness) => h.emulator('bitrix24').get('portal-a')!;

/** What each provider's emulator saw since the last reset, one name per request: its lookup for `OPERATION`, or a token call. */
function seen(h: Harness): Record<Provider, string[]> {
  return {
    x: h.emulator('x').requests.map((r) => r.path),
    telegram: h.emulator('telegram').rpcs.map((r) => r.method),
    bitrix24: portal(h).requests.map((r) => r.method),
    nexudus: h.emulator('nexudus').requests.map((r) => r.kind),
  };
}
/** One `OPERATION` lookup of each provider. */
const LOOKUP: Record<Provider, string> = { x: '/2/users', telegram: 'users.getUsers', bitrix24: 'im.user.list.get', nexudus: 'list' };

function injectHttp(h: Harness, provider: Exclude<Provider, 'telegram'>, count: number, fault: HttpFault): void {
  if (provider === 'x') h.emulator('x').failNext(count, fault);
  else if (provider === 'bitrix24') portal(h).failNext(count, fault);
  else h.emulator('nexudus').failNext(count, fault);
}

type GqlError = NonNullable<GqlResult<unknown>['body']['errors']>[number];
const byPath = (a: GqlError, b: GqlError) => JSON.stringify(a.path).localeCompare(JSON.stringify(b.path));

/** The errors an operation answers when `provider`'s lookup failed with `code`: one per id, nothing else. */
function errorsAt(provider: Provider, code: ErrorCode, retryAfter: number | undefined) {
  return ['1', '2'].map((id, index) => ({
    message: expect.any(String),
    locations: expect.any(Array),
    path: [provider, index],
    extensions: { code, provider, id, ...(retryAfter === undefined ? {} : { retryAfter }) },
  }));
}

/**
 * What the upstreams put in their failures, and every credential of the harness: none of it may reach
 * a caller. The secrets may not reach a log line either.
 */
const SECRETS = [X_TEST_TOKEN, BITRIX_TEST_SECRET, NEXUDUS_LOGIN.password, NEXUDUS_STATIC_TOKEN, 'emulated-bot-token'];
const UPSTREAM_TEXT = [
  '<html',
  'nginx',
  'padding',
  'Unauthorized',
  'Too Many Requests',
  'Internal Server Error',
  'Bad Gateway',
  'Service Unavailable',
  'QUERY_LIMIT_EXCEEDED',
  'OPERATION_TIME_LIMIT',
  'INTERNAL_SERVER_ERROR',
  'NO_AUTH_FOUND',
  'Wrong authorization data',
  'Authorization has been denied',
  'An error has occurred',
  'AUTH_KEY_UNREGISTERED',
  'FLOOD_WAIT',
  'RPC_CALL_FAIL',
  'TIMEOUT',
];

async function expectNothingLeaked(h: Harness, response: GqlResult<unknown>): Promise<void> {
  const answer = JSON.stringify(response.body);
  for (const text of [...UPSTREAM_TEXT, ...SECRETS]) expect(answer).not.toContain(text);
  const logsAndMetrics = h.logs.join('\n') + (await (await fetch(`${h.url}/metrics`)).text());
  for (const secret of SECRETS) expect(logsAndMetrics).not.toContain(secret);
}

// ---------------------------------------------------------------------------------------------
// The matrix.

const ATTEMPTS = 2;
/**
 * Short, for the rows that wait for it twice, yet far above what any other answer of the emulators takes (a
 * few ms), even on a loaded machine: in those rows every provider's requests run under it.
 */
const TIMEOUT_MS = 1_000;
/** Each provider's body cap (`maxBodyBytes` in its client.ts), one byte over. */
const OVER_CAP: Record<Exclude<Provider, 'telegram'>, number> = {
  x: 4 * 1024 * 1024 + 1,
  bitrix24: 16 * 1024 * 1024 + 1,
  nexudus: 4 * 1024 * 1024 + 1,
};

interface Row {
  provider: Provider;
  /** The fault, as the matrix names it. */
  fault: string;
  /** Queues the fault (enough of it for every attempt the row expects). */
  inject(h: Harness, clock: TestClock): void;
  env?: Record<string, string>;
  code: ErrorCode;
  retryAfter?: number;
  /** What the faulty provider's emulator sees, in order. */
  requests: string[];
  /** Run between the failed operation and the recovery one; what a row needs before it can recover. */
  beforeRecovery?(h: Harness, clock: TestClock): Promise<void>;
  /** Set when production code gets the row wrong: the row then runs as `it.fails`. */
  bug?: string;
}

const times = (n: number, name: string) => Array.from({ length: n }, () => name);

/** A row of an HTTP provider: `count` × `fault` queued, `requests` lookups seen. */
function http(
  provider: Exclude<Provider, 'telegram'>,
  fault: string,
  injected: HttpFault,
  count: number,
  expected: Pick<Row, 'code' | 'retryAfter' | 'env' | 'bug'> & { requests?: string[] },
): Row {
  return {
    provider,
    fault,
    inject: (h) => injectHttp(h, provider, count, injected),
    requests: expected.requests ?? times(count, LOOKUP[provider]),
    ...expected,
  };
}

/** The faults every HTTP provider meets the same way, and the same answer to each. */
function commonHttpRows(provider: Exclude<Provider, 'telegram'>): Row[] {
  const unavailable = { code: 'UPSTREAM_UNAVAILABLE' } as const;
  return [
    http(provider, `timeout (> ${TIMEOUT_MS} ms), every attempt`, { kind: 'slow', ms: 10_000 }, ATTEMPTS, {
      ...unavailable,
      env: { UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS) },
    }),
    http(provider, 'connection reset mid-body, every attempt', { kind: 'reset' }, ATTEMPTS, unavailable),
    // A 200 whose body is not what the API sends: not retried (the upstream answered, and would again).
    http(provider, 'malformed JSON (200, truncated body)', { kind: 'truncated-json' }, 1, unavailable),
    http(provider, 'HTML body with 200 (a proxy page)', { kind: 'html', status: 200 }, 1, unavailable),
    http(provider, 'HTML body with 502, every attempt', { kind: 'html', status: 502 }, ATTEMPTS, unavailable),
    // Was a bug for Bitrix24: every 503 read as its QUERY_LIMIT_EXCEEDED (RATE_LIMITED), though a proxy's page
    // says nothing of the kind: the portal is down.
    http(provider, 'HTML body with 503, every attempt', { kind: 'html', status: 503 }, ATTEMPTS, unavailable),
    // Refused unread (the connection is dropped), and not retried: the same request would get the same body.
    http(
      provider,
      `oversize body (${OVER_CAP[provider]} bytes, content-length)`,
      { kind: 'oversize', bytes: OVER_CAP[provider] },
      1,
      unavailable,
    ),
    http(
      provider,
      `oversize body (${OVER_CAP[provider]} bytes, chunked)`,
      { kind: 'oversize', bytes: OVER_CAP[provider], chunked: true },
      1,
      unavailable,
    ),
  ];
}

const ROWS: Row[] = [
  // X
  http('x', '401 (credentials refused)', { kind: 'status', status: 401 }, 1, { code: 'UNAUTHENTICATED' }),
  {
    provider: 'x',
    fault: '429 with x-rate-limit-reset 600 s away',
    inject: (h, clock) =>
      h.emulator('x').failNext(1, {
        kind: 'status',
        status: 429,
        headers: { 'x-rate-limit-limit': '300', 'x-rate-limit-remaining': '0', 'x-rate-limit-reset': String(clock.wallNow() / 1000 + 600) },
      }),
    // Past UPSTREAM_MAX_RETRY_WAIT_MS: failed at once with X's reset as retryAfter, not waited out.
    code: 'RATE_LIMITED',
    retryAfter: 600,
    requests: ['/2/users'],
    async beforeRecovery(h, clock) {
      // X said the window is spent: until its reset, lookups fail at once without asking X again…
      h.reset();
      const early = await h.gql(OPERATION);
      expect(early.body.data.x).toEqual([null, null]);
      const errors = [...(early.body.errors ?? [])].sort(byPath);
      expect(errors).toEqual(errorsAt('x', 'RATE_LIMITED', expect.any(Number)));
      for (const error of errors) expect(error.extensions!.retryAfter).toBeGreaterThan(0);
      for (const error of errors) expect(error.extensions!.retryAfter).toBeLessThanOrEqual(600);
      expect(seen(h).x).toEqual([]);
      // …and after it, they ask again.
      clock.advance(600_000);
    },
  },
  http('x', '503, every attempt', { kind: 'status', status: 503 }, ATTEMPTS, { code: 'UPSTREAM_UNAVAILABLE' }),
  ...commonHttpRows('x'),

  // Telegram: MTProto, in process. Its answers to the HTTP faults are its RPC errors.
  {
    provider: 'telegram',
    fault: '401 AUTH_KEY_UNREGISTERED',
    inject: (h) => h.emulator('telegram').failNext(1, 401, 'AUTH_KEY_UNREGISTERED'),
    code: 'UNAUTHENTICATED',
    requests: ['users.getUsers'],
  },
  {
    provider: 'telegram',
    fault: '420 FLOOD_WAIT_60 (over the 5 s threshold)',
    inject: (h) => h.emulator('telegram').failNext(1, 420, 'FLOOD_WAIT_60'),
    code: 'RATE_LIMITED',
    retryAfter: 60,
    requests: ['users.getUsers'],
  },
  {
    provider: 'telegram',
    fault: '500 RPC_CALL_FAIL, every attempt',
    inject: (h) => h.emulator('telegram').failNext(ATTEMPTS, 500, 'RPC_CALL_FAIL'),
    code: 'UPSTREAM_UNAVAILABLE',
    requests: times(ATTEMPTS, 'users.getUsers'),
  },
  {
    provider: 'telegram',
    fault: "-503 Timeout (Telegram's own), every attempt",
    inject: (h) => h.emulator('telegram').failNext(ATTEMPTS, -503, 'Timeout'),
    code: 'UPSTREAM_UNAVAILABLE',
    requests: times(ATTEMPTS, 'users.getUsers'),
  },
  {
    provider: 'telegram',
    fault: `timeout (> ${TIMEOUT_MS} ms), every attempt`,
    inject: (h) => h.emulator('telegram').failNext(ATTEMPTS, { kind: 'slow', ms: 10_000 }),
    env: { UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS) },
    code: 'UPSTREAM_UNAVAILABLE',
    requests: times(ATTEMPTS, 'users.getUsers'),
    // Was a bug: mtcute fails an RPC whose `timeout` passed with RpcError(400, 'TIMEOUT') (SessionConnection.
    // _cancelRpc), which was read as the caller's input: BAD_USER_INPUT after one attempt.
  },
  // No counterpart over MTProto, so no row: a connection reset mid-body, a malformed (truncated) body, an HTML
  // body and an oversize body are HTTP's. MTProto has no HTTP body: its frames are length-prefixed and
  // authenticated, and mtcute's TL decoder refuses a malformed one before any caller sees it (a lost
  // connection is a timeout, above).

  // Bitrix24
  http('bitrix24', '401 NO_AUTH_FOUND (credentials refused)', { kind: 'status', status: 401 }, 1, { code: 'UNAUTHENTICATED' }),
  // QUERY_LIMIT_EXCEEDED: the portal's leaky bucket overflowed; it drains in a moment, so it is retried with backoff.
  http('bitrix24', '503 QUERY_LIMIT_EXCEEDED, every attempt', { kind: 'status', status: 503 }, ATTEMPTS, { code: 'RATE_LIMITED' }),
  // OPERATION_TIME_LIMIT: the method's time budget is spent until its window resets (10 minutes, per the `time` block).
  http('bitrix24', '429 OPERATION_TIME_LIMIT', { kind: 'status', status: 429 }, 1, { code: 'RATE_LIMITED', retryAfter: 600 }),
  http('bitrix24', '500 INTERNAL_SERVER_ERROR, every attempt', { kind: 'status', status: 500 }, ATTEMPTS, { code: 'UPSTREAM_UNAVAILABLE' }),
  ...commonHttpRows('bitrix24'),

  // Nexudus
  // A 401 renews the account's token once (a refresh-token grant) and asks again; refused again, it is final.
  http('nexudus', '401 (credentials refused), twice', { kind: 'status', status: 401 }, 2, {
    code: 'UNAUTHENTICATED',
    requests: ['list', 'token', 'list'],
  }),
  // Retry-After: 1 is more than UPSTREAM_MAX_RETRY_WAIT_MS allows: failed at once with it as retryAfter.
  http('nexudus', '409 with Retry-After: 1', { kind: 'status', status: 409 }, 1, { code: 'RATE_LIMITED', retryAfter: 1 }),
  http('nexudus', '500, every attempt', { kind: 'status', status: 500 }, ATTEMPTS, { code: 'UPSTREAM_UNAVAILABLE' }),
  ...commonHttpRows('nexudus'),
];

const RETRY_WAIT_MS = 300;

function harnessOptions(clock: TestClock, env: Record<string, string> = {}): HarnessOptions {
  return {
    clock,
    emulators: {
      x: { clock: clock.frozen },
      bitrix24: { portals: [{ name: 'portal-a', emulator: { clock: clock.frozen } }] },
      nexudus: { clock: clock.running },
    },
    env: { UPSTREAM_MAX_ATTEMPTS: String(ATTEMPTS), UPSTREAM_MAX_RETRY_WAIT_MS: String(RETRY_WAIT_MS), ...env },
  };
}

/** Runs `test` against a fresh subgraph and its emulators, closed whatever happens. */
async function withHarness(options: HarnessOptions, test: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness(options);
  try {
    await test(h);
  } finally {
    await h.close();
  }
}

/** Every provider answers: the data every later operation is compared with (and the Nexudus token is obtained). */
async function baseline(harness: Harness): Promise<Record<Provider, unknown>> {
  const first = await harness.gql(OPERATION);
  expect(first.status).toBe(200);
  expect(first.body.errors).toBeUndefined();
  for (const provider of PROVIDERS) expect(first.body.data[provider]).toHaveLength(2);
  harness.reset();
  return first.body.data;
}

/** The next operation gets every provider's data, at one lookup each. */
async function expectRecovered(harness: Harness, data: Record<Provider, unknown>): Promise<void> {
  harness.reset();
  const again = await harness.gql(OPERATION);
  expect(again).toEqual({ status: 200, body: { data } });
  expect(seen(harness)).toEqual({ x: [LOOKUP.x], telegram: [LOOKUP.telegram], bitrix24: [LOOKUP.bitrix24], nexudus: [LOOKUP.nexudus] });
}

async function runRow(row: Row): Promise<void> {
  const clock = new TestClock();
  await withHarness(harnessOptions(clock, row.env), async (h) => {
    const data = await baseline(h);

    row.inject(h, clock);
    const response = await h.gql(OPERATION);

    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ ...data, [row.provider]: [null, null] });
    expect([...(response.body.errors ?? [])].sort(byPath)).toEqual(errorsAt(row.provider, row.code, row.retryAfter));
    const others = Object.fromEntries(PROVIDERS.filter((p) => p !== row.provider).map((p) => [p, [LOOKUP[p]]]));
    expect(seen(h)).toEqual({ ...others, [row.provider]: row.requests });
    await expectNothingLeaked(h, response);

    await row.beforeRecovery?.(h, clock);
    await expectRecovered(h, data);
  });
}

// Rows run a few at a time: each has its own subgraph, and mostly waits (for Nexudus's pacing, for retries, for
// UPSTREAM_TIMEOUT_MS).
describe.concurrent('fault matrix', () => {
  for (const provider of PROVIDERS) {
    describe(provider, () => {
      for (const row of ROWS.filter((r) => r.provider === provider)) {
        const title = `${row.fault} -> ${row.code}${row.retryAfter === undefined ? '' : ` (retryAfter ${row.retryAfter})`}, ${row.requests.length} request(s)`;
        (row.bug === undefined ? it : it.fails)(title, () => runRow(row));
      }
    });
  }
});

describe('circuit breaker', () => {
  it("two operations that find X unavailable open X's circuit: calls fail fast until the cool-down, then one is let through and success closes it", async () => {
    // cockatiel times the cool-down on Date.now(): move it instead of waiting 60 s.
    let skewMs = 0;
    const realNow = Date.now.bind(Date);
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + skewMs);
    onTestFinished(() => spy.mockRestore());
    const options: HarnessOptions = {
      env: {
        UPSTREAM_CIRCUIT_FAILURES: '2',
        UPSTREAM_CIRCUIT_COOL_DOWN_MS: '60000',
        UPSTREAM_MAX_ATTEMPTS: String(ATTEMPTS),
        UPSTREAM_MAX_RETRY_WAIT_MS: String(RETRY_WAIT_MS),
      },
    };
    await withHarness(options, async (harness) => {
      const x = harness.emulator('x');
      const data = await baseline(harness);
      const circuitOf = async () => {
        const res = await fetch(`${harness.url}/ready`);
        const body = (await res.json()) as { circuits: Array<{ provider: string; scope: string; state: string }> };
        return { status: res.status, x: body.circuits.filter((c) => c.provider === 'x') };
      };
      const gauge = async () => {
        const text = await (await fetch(`${harness.url}/metrics`)).text();
        return /^users_subgraph_upstream_circuit_state\{provider="x",scope=""\} (\d+)$/m.exec(text)?.[1];
      };
      const xFails = async (response: GqlResult<any>, retryAfter?: number) => {
        expect(response.status).toBe(200);
        expect(response.body.data).toEqual({ ...data, x: [null, null] });
        expect([...(response.body.errors ?? [])].sort(byPath)).toEqual(errorsAt('x', 'UPSTREAM_UNAVAILABLE', retryAfter));
      };

      // Two operations find X unavailable, each after its attempts: the second opens the circuit.
      x.failNext(2 * ATTEMPTS, 503);
      await xFails(await harness.gql(OPERATION));
      expect(await circuitOf()).toEqual({ status: 200, x: [{ provider: 'x', scope: '', state: 'closed' }] });
      await xFails(await harness.gql(OPERATION));
      expect(x.requests).toHaveLength(2 * ATTEMPTS);

      // The third fails fast: no request reaches X, the error says when to come back, the other providers answer.
      await xFails(await harness.gql(OPERATION), 60);
      expect(x.requests).toHaveLength(2 * ATTEMPTS);
      // An open circuit does not make the subgraph unready: its other providers still answer.
      expect(await circuitOf()).toEqual({ status: 200, x: [{ provider: 'x', scope: '', state: 'open' }] });
      expect(await gauge()).toBe('2');

      // After the cool-down one call is let through to try; the operation's other X lookup waits for it. The trial
      // fails: the circuit opens again, and the waiting lookup fails fast without a request of its own.
      skewMs += 60_001;
      harness.reset();
      x.failNext(ATTEMPTS, 503);
      const trial = await harness.gql('{ byId: xUsers(ids: ["1"]) { id } byName: xUsersByUsername(usernames: ["user2"]) { id } }');
      expect(trial.body.data).toEqual({ byId: [null], byName: [null] });
      const codes = (trial.body.errors ?? []).map((e) => ({ code: e.extensions!.code, retryAfter: e.extensions!.retryAfter }));
      expect(codes).toEqual(
        expect.arrayContaining([
          { code: 'UPSTREAM_UNAVAILABLE', retryAfter: undefined },
          { code: 'UPSTREAM_UNAVAILABLE', retryAfter: 60 },
        ]),
      );
      expect(codes).toHaveLength(2);
      expect(x.requests).toHaveLength(ATTEMPTS);
      expect(new Set(x.requests.map((r) => r.path)).size).toBe(1);
      expect(await circuitOf()).toEqual({ status: 200, x: [{ provider: 'x', scope: '', state: 'open' }] });

      // After the next cool-down the trial succeeds, with one request, and closes the circuit.
      skewMs += 60_001;
      harness.reset();
      const recovered = await harness.gql(OPERATION);
      expect(recovered).toEqual({ status: 200, body: { data } });
      expect(x.requests.map((r) => r.path)).toEqual(['/2/users']);
      expect(await circuitOf()).toEqual({ status: 200, x: [{ provider: 'x', scope: '', state: 'closed' }] });
      expect(await gauge()).toBe('0');
    });
  });
});
