import { getEventListeners } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../core/clock.js';
import { ProviderError } from '../core/errors.js';
import type { ProviderId } from '../core/types.js';
import { registry, upstreamRequests } from '../telemetry/metrics.js';
import { ManualClock } from '../testing/manual-clock.js';
import { rejection } from '../testing/rejection.js';
import {
  header,
  path,
  UpstreamClient,
  type UpstreamClientOptions,
  type UpstreamRequest,
  type UpstreamResponse,
  type Verdict,
} from './http.js';
import { RulePacer } from './pacing.js';
import { MemoryRateBudget } from './rate-budget.js';
import { parseResetEpochSeconds, parseRetryAfter } from './retry.js';

/**
 * The upstream HTTP layer against a real, scripted server on loopback. Real HTTP, but no real waiting:
 * every wait the layer decides on (retry backoff, an upstream's Retry-After, the fail-fast budget) is
 * timed on a ManualClock that the test moves, so assertions about waits are exact and nothing races the
 * wall clock. Only a per-attempt deadline runs on real time (undici's own timers), kept short, and no
 * test asserts how long anything took in real time.
 */

// ---------------------------------------------------------------------------------------------
// A scripted upstream on loopback: request n is answered by script[n] (the last step repeats).

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}
type Step = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let baseUrl: string;
let script: Step[] = [];
let seen: Seen[] = [];
let clock: ManualClock;
const clients: UpstreamClient[] = [];

beforeEach(async () => {
  script = [];
  seen = [];
  clock = new ManualClock();
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const index = seen.length;
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      const step = script[Math.min(index, script.length - 1)];
      if (step === undefined) reply(200, { ok: true })(req, res);
      else step(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  // Every wait a call started has ended: nothing is left on the clock.
  expect(clock.pending).toBe(0);
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  // Answers that never came (hang, stall) end with their sockets.
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function reply(status: number, body?: unknown, headers: Record<string, string> = {}): Step {
  return (_req, res) => {
    const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(text);
  };
}

/** Resolves once `condition` holds, checking as the event loop turns. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

/** An upstream that never answers: only the client's own deadline ends the attempt. */
const hang: Step = () => {};

/** Headers and the start of a body, then nothing more. */
const stall: Step = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('{"data":');
};

const destroy: Step = (req) => req.socket.destroy();

// ---------------------------------------------------------------------------------------------
// A provider-like classification: 200 ok, 429 retry after the stated wait, 401/403 fail, 5xx retry.
// An HTTP-date Retry-After is read against the wall time of the clock the client hands it.

function classify(response: UpstreamResponse, at: Clock): Verdict {
  const { status } = response;
  const waitMs =
    header(response, 'x-test-wait-ms') !== undefined
      ? Number(header(response, 'x-test-wait-ms'))
      : parseRetryAfter(header(response, 'retry-after'), at.wallNow());
  if (status === 200) return { kind: 'ok' };
  if (status === 429) return { kind: 'retry', code: 'RATE_LIMITED', waitMs };
  if (status === 401 || status === 403) return { kind: 'fail', code: 'UNAUTHENTICATED', waitMs };
  if (status >= 500) return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', waitMs };
  return { kind: 'fail', code: 'UPSTREAM_UNAVAILABLE' };
}

/** Budget as the test upstream states it: remaining calls and milliseconds to the reset. */
function budget(response: UpstreamResponse): { remaining: number; resetInMs: number } | undefined {
  const remaining = header(response, 'x-test-remaining');
  const reset = header(response, 'x-test-reset-ms');
  if (remaining === undefined || reset === undefined) return undefined;
  return { remaining: Number(remaining), resetInMs: Number(reset) };
}

const silent = pino({ level: 'silent' });

/** Made-up providers: the upstream layer knows none by name. */
const ACME: ProviderId = { name: 'acme', label: 'Acme' };
const OTHER: ProviderId = { name: 'other', label: 'Other' };

/** A client on this test's manual clock (unless `overrides` says otherwise). */
function client(overrides: Partial<UpstreamClientOptions> = {}): UpstreamClient {
  const c = new UpstreamClient({
    provider: ACME,
    baseUrl,
    connections: 4,
    timeoutMs: 2_000,
    retry: { maxAttempts: 3, maxTotalWaitMs: 2_000, baseDelayMs: 10 },
    logger: silent,
    classify,
    random: () => 0.5,
    clock,
    ...overrides,
  });
  clients.push(c);
  return c;
}

/** Sends `request`, moving the manual clock to each wait the client starts. */
function send(c: UpstreamClient, request: UpstreamRequest): Promise<UpstreamResponse> {
  return clock.run(c.send(request));
}

let labelCounter = 0;
/** A label of its own per test, so the process-global metrics of other tests do not interfere. */
function freshLabel(): string {
  return `GET /test/${++labelCounter}`;
}

async function counted(provider: string, method: string, status: string): Promise<number> {
  const metric = await upstreamRequests.get();
  return metric.values
    .filter((v) => v.labels.provider === provider && v.labels.method === method && v.labels.status === status)
    .reduce((sum, v) => sum + v.value, 0);
}

async function countedAll(provider: string, method: string): Promise<number> {
  const metric = await upstreamRequests.get();
  return metric.values.filter((v) => v.labels.provider === provider && v.labels.method === method).reduce((sum, v) => sum + v.value, 0);
}

const get = (label: string): UpstreamRequest => ({ method: 'GET', label, path: path`/2/users`, query: [['ids', '1']] });

/** A port nothing listens on (it was just free). */
async function closedPort(): Promise<number> {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  return port;
}

// ---------------------------------------------------------------------------------------------

describe('UpstreamClient: success', () => {
  it('resolves with the status, headers and parsed JSON body of an ok response', async () => {
    script = [reply(200, { data: [{ id: '1', name: 'A' }] }, { 'x-extra': 'yes' })];
    const response = await send(client(), get(freshLabel()));
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: [{ id: '1', name: 'A' }] });
    expect(header(response, 'x-extra')).toBe('yes');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.method).toBe('GET');
    expect(seen[0]!.url).toBe('/2/users?ids=1');
    expect(clock.now()).toBe(0); // no wait
  });

  it('encodes every interpolated path segment and every query value: a value can add no segment or parameter', async () => {
    script = [reply(200, {})];
    const hostile = '1&user.fields=x/../admin?y=1#z';
    await send(client(), {
      method: 'GET',
      label: freshLabel(),
      path: path`/users/${hostile}/`,
      query: [
        ['ids', hostile],
        ['a b', 'c,d'],
      ],
    });
    const url = new URL(seen[0]!.url, 'http://upstream');
    expect(url.pathname).toBe(`/users/${encodeURIComponent(hostile)}/`);
    expect([...url.searchParams]).toEqual([
      ['ids', hostile],
      ['a b', 'c,d'],
    ]);
  });

  it('gives an undefined body for an empty or non-JSON response', async () => {
    script = [reply(200), reply(200, 'not json {')];
    const c = client();
    expect((await send(c, get(freshLabel()))).body).toBeUndefined();
    expect((await send(c, get(freshLabel()))).body).toBeUndefined();
  });

  it('sends method, headers and body, and appends the path to the base URL path', async () => {
    script = [reply(200, { result: 1 })];
    const c = client({ baseUrl: `${baseUrl}/api/v9/` });
    await send(c, {
      method: 'POST',
      label: freshLabel(),
      path: path`/thing.get`,
      query: [['x', '1']],
      headers: { 'content-type': 'application/json', 'x-custom': 'v' },
      body: '{"a":1}',
    });
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/api/v9/thing.get?x=1', body: '{"a":1}' });
    expect(seen[0]!.headers['x-custom']).toBe('v');
  });

  it('lets the classifier decide: a 404 the provider calls ok is returned, not retried', async () => {
    script = [reply(404, { errors: [] })];
    const response = await send(client({ classify: () => ({ kind: 'ok' }) }), get(freshLabel()));
    expect(response.status).toBe(404);
    expect(seen).toHaveLength(1);
  });
});

describe("UpstreamClient: the caller's signal", () => {
  it('carries no listener of an attempt once the attempt is over, answered or failed: a request runs many calls on one signal', async () => {
    const caller = new AbortController();
    script = [reply(200, {}), reply(503, {}), reply(200, {})];
    const c = client({ retry: { maxAttempts: 2, maxTotalWaitMs: 0, baseDelayMs: 0 } });
    await clock.run(c.send(get(freshLabel()), caller.signal));
    await clock.run(c.send(get(freshLabel()), caller.signal)); // a 503, then an answer
    expect(seen).toHaveLength(3);
    expect(getEventListeners(caller.signal, 'abort')).toEqual([]);
  });
});

describe('UpstreamClient: retries', () => {
  it('retries a 503 after a jittered backoff on its clock and succeeds on the second request', async () => {
    script = [reply(503, { title: 'down' }), reply(200, { data: [] })];
    const response = await send(client(), get(freshLabel()));
    expect(response.body).toEqual({ data: [] });
    expect(seen).toHaveLength(2);
    expect(clock.now()).toBe(5); // baseDelayMs 10 at jitter 0.5
  });

  it('waits out a 429 whose wait is within the cap, then retries', async () => {
    script = [reply(429, undefined, { 'x-test-wait-ms': '300' }), reply(200, { data: [] })];
    const pending = client({ random: () => 0 }).send(get(freshLabel()));
    await clock.timerSet();
    expect(clock.nextIn()).toBe(300);
    await clock.advance(299);
    expect(seen).toHaveLength(1); // not a moment early
    await clock.advance(1);
    const response = await pending;
    expect(response.status).toBe(200);
    expect(seen).toHaveLength(2);
    expect(clock.now()).toBe(300);
  });

  it('honours a Retry-After in seconds on a 429', async () => {
    script = [reply(429, undefined, { 'retry-after': '1' }), reply(200, {})];
    await send(client({ random: () => 0 }), get(freshLabel()));
    expect(clock.now()).toBe(1_000);
    expect(seen).toHaveLength(2);
  });

  it('honours a Retry-After HTTP date, read against the clock’s wall time', async () => {
    const inFifteen = new Date(clock.wallNow() + 15_000).toUTCString();
    script = [reply(429, undefined, { 'retry-after': inFifteen }), reply(200, {})];
    await send(client({ random: () => 0, retry: { maxAttempts: 3, maxTotalWaitMs: 20_000, baseDelayMs: 10 } }), get(freshLabel()));
    expect(clock.now()).toBe(15_000);
    expect(seen).toHaveLength(2);
  });

  it('fails at once with RATE_LIMITED and retryAfter when the wait exceeds maxTotalWaitMs, sending nothing more', async () => {
    script = [reply(429, undefined, { 'retry-after': '5' }), reply(200, {})];
    const error = await rejection(send(client(), get(freshLabel())));
    expect(clock.now()).toBe(0); // no wait at all
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.provider).toBe(ACME);
    expect(error.retryAfter).toBe(5);
    expect(error.extensions).toMatchObject({ code: 'RATE_LIMITED', provider: 'acme', retryAfter: 5 });
    expect(seen).toHaveLength(1);
  });

  it('counts every wait of one call against maxTotalWaitMs', async () => {
    // 600 ms then 600 ms: the second wait would take the total to 1200 > 1000.
    script = [reply(429, undefined, { 'x-test-wait-ms': '600' })];
    const c = client({ random: () => 0, retry: { maxAttempts: 10, maxTotalWaitMs: 1_000, baseDelayMs: 10 } });
    const error = await rejection(send(c, get(freshLabel())));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryAfter).toBe(1);
    expect(seen).toHaveLength(2);
    expect(clock.now()).toBe(600); // the first wait only
  });

  it('makes exactly maxAttempts requests against a persistent 503, backing off exponentially', async () => {
    script = [reply(503, {})];
    const c = client({ retry: { maxAttempts: 4, maxTotalWaitMs: 2_000, baseDelayMs: 5 } });
    const error = await rejection(send(c, get(freshLabel())));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(error.retryAfter).toBeUndefined();
    expect(seen).toHaveLength(4);
    expect(clock.now()).toBe(3 + 5 + 10); // ceilings 5, 10, 20 at jitter 0.5
  });

  it('makes a single request when maxAttempts is 1', async () => {
    script = [reply(429, undefined, { 'x-test-wait-ms': '10' }), reply(200, {})];
    const c = client({ retry: { maxAttempts: 1, maxTotalWaitMs: 2_000, baseDelayMs: 5 } });
    const error = await rejection(send(c, get(freshLabel())));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryAfter).toBe(1); // ceil(10 ms) in seconds
    expect(seen).toHaveLength(1);
    expect(clock.now()).toBe(0);
  });

  it('does not retry a fail verdict', async () => {
    script = [reply(401, { title: 'Unauthorized' }), reply(200, {})];
    const error = await rejection(send(client(), get(freshLabel())));
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(error.retryAfter).toBeUndefined();
    expect(seen).toHaveLength(1);
    expect(clock.now()).toBe(0);
  });

  it('carries the wait of a fail verdict as retryAfter', async () => {
    script = [reply(403, undefined, { 'retry-after': '42' })];
    const error = await rejection(send(client(), get(freshLabel())));
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(error.retryAfter).toBe(42);
    expect(seen).toHaveLength(1);
  });

  it('waits on the system clock when none is given', async () => {
    script = [reply(503, {}), reply(200, { data: [] })];
    // A zero backoff: a real timer, but no real waiting.
    const response = await client({ clock: undefined, random: () => 0 }).send(get(freshLabel()));
    expect(response.body).toEqual({ data: [] });
    expect(seen).toHaveLength(2);
    expect(clock.now()).toBe(0); // the manual clock was not used
  });
});

describe('UpstreamClient: transport failures', () => {
  it('gives UPSTREAM_UNAVAILABLE after maxAttempts when the connection is refused', async () => {
    const port = await closedPort();
    const label = freshLabel();
    const before = await counted('acme', label, 'error');
    const c = client({ baseUrl: `http://127.0.0.1:${port}` });
    const error = await rejection(send(c, get(label)));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect((await counted('acme', label, 'error')) - before).toBe(3);
  });

  it('gives UPSTREAM_UNAVAILABLE after maxAttempts when the upstream destroys the socket', async () => {
    script = [destroy];
    const error = await rejection(send(client(), get(freshLabel())));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(seen).toHaveLength(3);
  });

  it('recovers when only the first connection is destroyed', async () => {
    script = [destroy, reply(200, { data: [] })];
    const response = await send(client(), get(freshLabel()));
    expect(response.body).toEqual({ data: [] });
    expect(seen).toHaveLength(2);
  });

  it('gives UPSTREAM_UNAVAILABLE after maxAttempts when every attempt times out, without waiting for the upstream', async () => {
    // The upstream never answers: the call can only end through its own per-attempt deadline.
    script = [hang];
    const error = await rejection(send(client({ timeoutMs: 100 }), get(freshLabel())));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(seen).toHaveLength(3);
  });

  it('times out a response whose body stalls after the headers', async () => {
    script = [stall];
    const error = await rejection(
      send(client({ timeoutMs: 100, retry: { maxAttempts: 2, maxTotalWaitMs: 0, baseDelayMs: 0 } }), get(freshLabel())),
    );
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(seen).toHaveLength(2);
  });

  it('succeeds on a retry after a timed-out first attempt', async () => {
    script = [hang, reply(200, { late: false })];
    // A deadline the second (prompt) answer meets even on a loaded machine.
    const response = await send(client({ timeoutMs: 250 }), get(freshLabel()));
    expect(response.body).toEqual({ late: false });
    expect(seen).toHaveLength(2);
  });
});

describe('UpstreamClient: rate-limit budget', () => {
  it('after a response stating none remain, fails fast with RATE_LIMITED until the reset, then sends again', async () => {
    script = [reply(200, { n: 1 }, { 'x-test-remaining': '0', 'x-test-reset-ms': '400' }), reply(200, { n: 2 })];
    const c = client({ budget });
    const label = freshLabel();

    expect((await send(c, get(label))).body).toEqual({ n: 1 });
    expect(seen).toHaveLength(1);

    const error = await rejection(send(c, get(label)));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.provider).toBe(ACME);
    expect(error.retryAfter).toBe(1);
    expect(seen).toHaveLength(1); // nothing sent

    await clock.advance(399);
    expect((await rejection(send(c, get(label)))).retryAfter).toBe(1); // 1 ms left, rounded up
    expect(seen).toHaveLength(1);

    await clock.advance(1);
    expect((await send(c, get(label))).body).toEqual({ n: 2 });
    expect(seen).toHaveLength(2);
  });

  it('reports the time left to the reset as retryAfter seconds', async () => {
    script = [reply(200, {}, { 'x-test-remaining': '0', 'x-test-reset-ms': '90000' })];
    const c = client({ budget });
    const label = freshLabel();
    await send(c, get(label));
    expect((await rejection(send(c, get(label)))).retryAfter).toBe(90);
    await clock.advance(30_500);
    expect((await rejection(send(c, get(label)))).retryAfter).toBe(60); // 59.5 s, rounded up
    expect(seen).toHaveLength(1);
  });

  it('reads a reset stated as an epoch time against the clock it is given', async () => {
    const resetAt = Math.floor(clock.wallNow() / 1000) + 60;
    script = [reply(200, {}, { 'x-test-remaining': '0', 'x-test-reset-epoch': String(resetAt) })];
    const seenClocks: Clock[] = [];
    const c = client({
      budget: (response, at) => {
        seenClocks.push(at);
        const resetInMs = parseResetEpochSeconds(header(response, 'x-test-reset-epoch'), at.wallNow());
        return resetInMs === undefined ? undefined : { remaining: Number(header(response, 'x-test-remaining')), resetInMs };
      },
    });
    const label = freshLabel();
    await send(c, get(label));
    expect(seenClocks).toEqual([clock]);
    expect((await rejection(send(c, get(label)))).retryAfter).toBe(60);
    await clock.advance(60_000);
    await send(c, get(label));
    expect(seen).toHaveLength(2);
  });

  it('keeps sending while some budget remains', async () => {
    script = [reply(200, {}, { 'x-test-remaining': '1', 'x-test-reset-ms': '90000' })];
    const c = client({ budget });
    const label = freshLabel();
    await send(c, get(label));
    await send(c, get(label));
    expect(seen).toHaveLength(2);
  });

  it('blocks only the label whose budget is spent', async () => {
    script = [reply(200, {}, { 'x-test-remaining': '0', 'x-test-reset-ms': '90000' }), reply(200, { other: true })];
    const c = client({ budget });
    const spent = freshLabel();
    await send(c, get(spent));
    expect((await send(c, get(freshLabel()))).body).toEqual({ other: true });
    expect(seen).toHaveLength(2);
  });

  it("keeps a budget per credential scope: a caller's spent budget does not block the server's own", async () => {
    script = [reply(200, {}, { 'x-test-remaining': '0', 'x-test-reset-ms': '90000' }), reply(200, { own: true })];
    const c = client({ budget });
    const label = freshLabel();
    await send(c, { ...get(label), scope: 'caller-hash' });
    expect((await rejection(send(c, { ...get(label), scope: 'caller-hash' }))).code).toBe('RATE_LIMITED');
    expect((await send(c, get(label))).body).toEqual({ own: true });
    expect(seen).toHaveLength(2);
  });

  it('keeps the budget in the store it is given, under the provider, scope and label', async () => {
    script = [reply(200, {}, { 'x-test-remaining': '0', 'x-test-reset-ms': '5000' })];
    const budgets = new MemoryRateBudget(clock);
    const label = freshLabel();
    await send(client({ budget, budgets }), { ...get(label), scope: 's' });
    expect(await budgets.blockedForMs({ provider: 'acme', scope: 's', label })).toBe(5_000);
    // Another client on the same store (another replica, on a shared one) sends nothing either.
    expect((await rejection(send(client({ budget, budgets }), { ...get(label), scope: 's' }))).retryAfter).toBe(5);
    expect(seen).toHaveLength(1);
  });
});

describe('UpstreamClient: pacing', () => {
  it('a request that got no answer keeps its pacing slot a second longer: it may still reach the upstream', async () => {
    // One request at a time, 1 ms apart: the tightest pacing there is.
    const pacer = new RulePacer([{ kind: 'window', count: 1, windowMs: 1 }], clock);
    script = [hang, reply(200, {})];
    const c = client({ pacer, retry: { maxAttempts: 1, maxTotalWaitMs: 0, baseDelayMs: 1 } });
    const caller = new AbortController();
    const label = freshLabel();
    const abandonedCall = c.send(get(label), caller.signal).catch((error: unknown) => error);
    await until(() => seen.length === 1);
    caller.abort();
    expect(await abandonedCall).toBeInstanceOf(ProviderError);
    // Cut off on the wire: counted as aborted, not as an upstream error.
    expect(await counted('acme', label, 'aborted')).toBe(1);
    expect(await counted('acme', label, 'error')).toBe(0);
    const next = c.send(get(freshLabel()));
    await clock.advance(999);
    expect(seen).toHaveLength(1); // the cut-off request still counts as in flight
    expect((await clock.run(next)).status).toBe(200);
    expect(clock.now()).toBe(1_001); // its second, then the rule's own millisecond
    expect(seen).toHaveLength(2);
  });
});

describe('UpstreamClient: metrics', () => {
  it('counts every request sent, retries included, by provider, method and status', async () => {
    script = [reply(503, {}), reply(429, undefined, { 'x-test-wait-ms': '5' }), reply(200, {})];
    const label = freshLabel();
    const before = {
      s503: await counted('acme', label, '503'),
      s429: await counted('acme', label, '429'),
      s200: await counted('acme', label, '200'),
      all: await countedAll('acme', label),
    };
    await send(client(), get(label));
    expect((await counted('acme', label, '503')) - before.s503).toBe(1);
    expect((await counted('acme', label, '429')) - before.s429).toBe(1);
    expect((await counted('acme', label, '200')) - before.s200).toBe(1);
    expect((await countedAll('acme', label)) - before.all).toBe(3);

    const text = await registry.getSingleMetricAsString('users_subgraph_upstream_requests_total');
    expect(text).toContain(`users_subgraph_upstream_requests_total{provider="acme",method="${label}",status="503"} 1`);
  });

  it('counts requests that never got a response with status "error"', async () => {
    script = [destroy, reply(200, {})];
    const label = freshLabel();
    const before = { error: await counted('acme', label, 'error'), ok: await counted('acme', label, '200') };
    await send(client(), get(label));
    expect((await counted('acme', label, 'error')) - before.error).toBe(1);
    expect((await counted('acme', label, '200')) - before.ok).toBe(1);
  });

  it('counts nothing for a call refused by the budget', async () => {
    script = [reply(200, {}, { 'x-test-remaining': '0', 'x-test-reset-ms': '90000' })];
    const c = client({ budget });
    const label = freshLabel();
    await send(c, get(label));
    const before = await countedAll('acme', label);
    await rejection(send(c, get(label)));
    expect((await countedAll('acme', label)) - before).toBe(0);
  });

  it('labels by the provider of the client', async () => {
    script = [reply(200, {})];
    const label = freshLabel();
    const before = await counted('other', label, '200');
    await send(client({ provider: OTHER }), get(label));
    expect((await counted('other', label, '200')) - before).toBe(1);
    expect(await counted('acme', label, '200')).toBe(0);
  });
});

describe('UpstreamClient: secrets', () => {
  const WEBHOOK_SECRET = 's3cr3tW3bh00k';
  const TOKEN = 'Bearer t0k3n-SUPERSECRET-42';

  function capture(): { logger: Logger; lines: string[] } {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    return { logger: pino({ level: 'debug' }, sink), lines };
  }

  function assertClean(where: string, text: string): void {
    expect(text, where).not.toContain(WEBHOOK_SECRET);
    expect(text, where).not.toContain('t0k3n');
    expect(text, where).not.toContain('SUPERSECRET');
  }

  it('never puts the webhook path or the authorization header in logs, errors or metrics', async () => {
    const { logger, lines } = capture();
    // A retry (debug log), a destroyed socket (transport error log), then persistent failure (warn log).
    script = [reply(503, { error: `bad ${WEBHOOK_SECRET}` }), destroy, hang, reply(500, {})];
    const label = 'POST user.get';
    const c = client({
      provider: OTHER,
      baseUrl: `${baseUrl}/rest/1/${WEBHOOK_SECRET}/`,
      logger,
      timeoutMs: 100,
      retry: { maxAttempts: 4, maxTotalWaitMs: 2_000, baseDelayMs: 5 },
    });
    const error = await rejection(
      send(c, {
        method: 'POST',
        label,
        path: path`/user.get.json`,
        headers: { authorization: TOKEN, 'content-type': 'application/json' },
        body: '{"ID":[1]}',
      }),
    );

    // The secret was really used on the wire...
    expect(seen).toHaveLength(4);
    expect(seen[0]!.url).toBe(`/rest/1/${WEBHOOK_SECRET}/user.get.json`);
    expect(seen[0]!.headers.authorization).toBe(TOKEN);

    // ...and shows up nowhere observable.
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(lines.length).toBeGreaterThanOrEqual(4);
    expect(lines.join('')).toContain(label);
    for (const line of lines) assertClean('log line', line);
    assertClean('error message', error.message);
    assertClean('error extensions', JSON.stringify(error.extensions));
    assertClean('error toJSON', JSON.stringify(error.toJSON()));
    assertClean('error stack', String(error.stack));
    assertClean('metrics', await registry.metrics());
    expect(await registry.metrics()).toContain(`provider="other",method="${label}"`);
  });

  it('keeps the secret out of the rate-limited error and its logs', async () => {
    const { logger, lines } = capture();
    script = [reply(429, undefined, { 'retry-after': '30' })];
    const c = client({ provider: OTHER, baseUrl: `${baseUrl}/rest/1/${WEBHOOK_SECRET}`, logger });
    const error = await rejection(
      send(c, { method: 'GET', label: 'GET profile', path: path`/profile.json`, headers: { authorization: TOKEN } }),
    );
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryAfter).toBe(30);
    expect(seen[0]!.url).toBe(`/rest/1/${WEBHOOK_SECRET}/profile.json`);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) assertClean('log line', line);
    assertClean('error', JSON.stringify({ message: error.message, extensions: error.extensions }));
  });

  it('keeps the secret out of logs and errors when the upstream cannot be reached at all', async () => {
    const { logger, lines } = capture();
    const port = await closedPort();
    const c = client({ provider: OTHER, baseUrl: `http://127.0.0.1:${port}/rest/1/${WEBHOOK_SECRET}/`, logger });
    const error = await rejection(send(c, { method: 'GET', label: 'GET refused', path: path`/x.json`, headers: { authorization: TOKEN } }));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) assertClean('log line', line);
    assertClean('error', JSON.stringify({ message: error.message, extensions: error.extensions }));
  });
});
