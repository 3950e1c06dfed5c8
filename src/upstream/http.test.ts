import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ProviderId } from '../providers/provider.js';
import { ProviderError } from './errors.js';
import { header, path, UpstreamClient, type UpstreamClientOptions, type UpstreamResponse, type Verdict } from './http.js';
import { registry, upstreamRequests } from './metrics.js';
import { parseRetryAfter } from './retry.js';

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
const timers = new Set<NodeJS.Timeout>();
const clients: UpstreamClient[] = [];

beforeEach(async () => {
  script = [];
  seen = [];
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
  for (const t of timers) clearTimeout(t);
  timers.clear();
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
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

function delayed(ms: number, step: Step): Step {
  return (req, res) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!res.destroyed) step(req, res);
    }, ms);
    timers.add(t);
  };
}

const destroy: Step = (req) => req.socket.destroy();

// ---------------------------------------------------------------------------------------------
// A provider-like classification: 200 ok, 429 retry after the stated wait, 401/403 fail, 5xx retry.

function classify(response: UpstreamResponse): Verdict {
  const { status } = response;
  const waitMs =
    header(response, 'x-test-wait-ms') !== undefined
      ? Number(header(response, 'x-test-wait-ms'))
      : parseRetryAfter(header(response, 'retry-after'));
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
    ...overrides,
  });
  clients.push(c);
  return c;
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

async function rejection(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError);
    return error as ProviderError;
  }
  throw new Error('expected the call to fail');
}

const get = (label: string) => ({ method: 'GET' as const, label, path: path`/2/users`, query: [['ids', '1']] as Array<[string, string]> });

// ---------------------------------------------------------------------------------------------

describe('UpstreamClient: success', () => {
  it('resolves with the status, headers and parsed JSON body of an ok response', async () => {
    script = [reply(200, { data: [{ id: '1', name: 'A' }] }, { 'x-extra': 'yes' })];
    const response = await client().send(get(freshLabel()));
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: [{ id: '1', name: 'A' }] });
    expect(header(response, 'x-extra')).toBe('yes');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.method).toBe('GET');
    expect(seen[0]!.url).toBe('/2/users?ids=1');
  });

  it('encodes every interpolated path segment and every query value: a value can add no segment or parameter', async () => {
    script = [reply(200, {})];
    const hostile = '1&user.fields=x/../admin?y=1#z';
    await client().send({
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
    expect((await c.send(get(freshLabel()))).body).toBeUndefined();
    expect((await c.send(get(freshLabel()))).body).toBeUndefined();
  });

  it('sends method, headers and body, and appends the path to the base URL path', async () => {
    script = [reply(200, { result: 1 })];
    const c = client({ baseUrl: `${baseUrl}/api/v9/` });
    await c.send({
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
    const response = await client({ classify: () => ({ kind: 'ok' }) }).send(get(freshLabel()));
    expect(response.status).toBe(404);
    expect(seen).toHaveLength(1);
  });
});

describe('UpstreamClient: retries', () => {
  it('retries a 503 and succeeds on the second request', async () => {
    script = [reply(503, { title: 'down' }), reply(200, { data: [] })];
    const response = await client().send(get(freshLabel()));
    expect(response.body).toEqual({ data: [] });
    expect(seen).toHaveLength(2);
  });

  it('waits out a 429 whose wait is within the cap, then retries', async () => {
    script = [reply(429, undefined, { 'x-test-wait-ms': '300' }), reply(200, { data: [] })];
    const started = performance.now();
    const response = await client({ random: () => 0 }).send(get(freshLabel()));
    const elapsed = performance.now() - started;
    expect(response.status).toBe(200);
    expect(seen).toHaveLength(2);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1_500);
  });

  it('honours a Retry-After in seconds on a 429', async () => {
    script = [reply(429, undefined, { 'retry-after': '1' }), reply(200, {})];
    const started = performance.now();
    await client({ random: () => 0 }).send(get(freshLabel()));
    expect(performance.now() - started).toBeGreaterThanOrEqual(990);
    expect(seen).toHaveLength(2);
  });

  it('fails at once with RATE_LIMITED and retryAfter when the wait exceeds maxTotalWaitMs, sending nothing more', async () => {
    script = [reply(429, undefined, { 'retry-after': '5' }), reply(200, {})];
    const started = performance.now();
    const error = await rejection(client().send(get(freshLabel())));
    expect(performance.now() - started).toBeLessThan(1_000);
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
    const error = await rejection(c.send(get(freshLabel())));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryAfter).toBe(1);
    expect(seen).toHaveLength(2);
  });

  it('makes exactly maxAttempts requests against a persistent 503', async () => {
    script = [reply(503, {})];
    const c = client({ retry: { maxAttempts: 4, maxTotalWaitMs: 2_000, baseDelayMs: 5 } });
    const error = await rejection(c.send(get(freshLabel())));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(error.retryAfter).toBeUndefined();
    expect(seen).toHaveLength(4);
  });

  it('makes a single request when maxAttempts is 1', async () => {
    script = [reply(429, undefined, { 'x-test-wait-ms': '10' }), reply(200, {})];
    const c = client({ retry: { maxAttempts: 1, maxTotalWaitMs: 2_000, baseDelayMs: 5 } });
    const error = await rejection(c.send(get(freshLabel())));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryAfter).toBe(1); // ceil(10 ms) in seconds
    expect(seen).toHaveLength(1);
  });

  it('does not retry a fail verdict', async () => {
    script = [reply(401, { title: 'Unauthorized' }), reply(200, {})];
    const error = await rejection(client().send(get(freshLabel())));
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(error.retryAfter).toBeUndefined();
    expect(seen).toHaveLength(1);
  });

  it('carries the wait of a fail verdict as retryAfter', async () => {
    script = [reply(403, undefined, { 'retry-after': '42' })];
    const error = await rejection(client().send(get(freshLabel())));
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(error.retryAfter).toBe(42);
    expect(seen).toHaveLength(1);
  });
});

describe('UpstreamClient: transport failures', () => {
  it('gives UPSTREAM_UNAVAILABLE after maxAttempts when the connection is refused', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const label = freshLabel();
    const before = await counted('acme', label, 'error');
    const c = client({ baseUrl: `http://127.0.0.1:${port}` });
    const error = await rejection(c.send(get(label)));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect((await counted('acme', label, 'error')) - before).toBe(3);
  });

  it('gives UPSTREAM_UNAVAILABLE after maxAttempts when the upstream destroys the socket', async () => {
    script = [destroy];
    const error = await rejection(client().send(get(freshLabel())));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(seen).toHaveLength(3);
  });

  it('recovers when only the first connection is destroyed', async () => {
    script = [destroy, reply(200, { data: [] })];
    const response = await client().send(get(freshLabel()));
    expect(response.body).toEqual({ data: [] });
    expect(seen).toHaveLength(2);
  });

  it('gives UPSTREAM_UNAVAILABLE after maxAttempts when every attempt times out, without waiting for the upstream', async () => {
    script = [delayed(3_000, reply(200, {}))];
    const started = performance.now();
    const error = await rejection(client({ timeoutMs: 100 }).send(get(freshLabel())));
    const elapsed = performance.now() - started;
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(seen).toHaveLength(3);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('times out a response whose body stalls after the headers', async () => {
    script = [
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"data":');
        const t = setTimeout(() => res.end('[]}'), 3_000);
        timers.add(t);
      },
    ];
    const started = performance.now();
    const error = await rejection(
      client({ timeoutMs: 150, retry: { maxAttempts: 2, maxTotalWaitMs: 0, baseDelayMs: 0 } }).send(get(freshLabel())),
    );
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(seen).toHaveLength(2);
  });

  it('succeeds on a retry after a timed-out first attempt', async () => {
    script = [delayed(3_000, reply(200, { late: true })), reply(200, { late: false })];
    const response = await client({ timeoutMs: 150 }).send(get(freshLabel()));
    expect(response.body).toEqual({ late: false });
    expect(seen).toHaveLength(2);
  });
});

describe('UpstreamClient: rate-limit budget', () => {
  it('after a response stating none remain, fails fast with RATE_LIMITED until the reset, then sends again', async () => {
    script = [reply(200, { n: 1 }, { 'x-test-remaining': '0', 'x-test-reset-ms': '400' }), reply(200, { n: 2 })];
    const c = client({ budget });
    const label = freshLabel();

    expect((await c.send(get(label))).body).toEqual({ n: 1 });
    expect(seen).toHaveLength(1);

    const error = await rejection(c.send(get(label)));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.provider).toBe(ACME);
    expect(error.retryAfter).toBe(1);
    expect(seen).toHaveLength(1); // nothing sent

    await new Promise((resolve) => setTimeout(resolve, 450));
    expect((await c.send(get(label))).body).toEqual({ n: 2 });
    expect(seen).toHaveLength(2);
  });

  it('reports the time left to the reset as retryAfter seconds', async () => {
    script = [reply(200, {}, { 'x-test-remaining': '0', 'x-test-reset-ms': '90000' })];
    const c = client({ budget });
    const label = freshLabel();
    await c.send(get(label));
    const error = await rejection(c.send(get(label)));
    expect(error.retryAfter).toBeGreaterThanOrEqual(89);
    expect(error.retryAfter).toBeLessThanOrEqual(90);
    expect(seen).toHaveLength(1);
  });

  it('keeps sending while some budget remains', async () => {
    script = [reply(200, {}, { 'x-test-remaining': '1', 'x-test-reset-ms': '90000' })];
    const c = client({ budget });
    const label = freshLabel();
    await c.send(get(label));
    await c.send(get(label));
    expect(seen).toHaveLength(2);
  });

  it('blocks only the label whose budget is spent', async () => {
    script = [reply(200, {}, { 'x-test-remaining': '0', 'x-test-reset-ms': '90000' }), reply(200, { other: true })];
    const c = client({ budget });
    const spent = freshLabel();
    await c.send(get(spent));
    expect((await c.send(get(freshLabel()))).body).toEqual({ other: true });
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
    await client().send(get(label));
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
    await client().send(get(label));
    expect((await counted('acme', label, 'error')) - before.error).toBe(1);
    expect((await counted('acme', label, '200')) - before.ok).toBe(1);
  });

  it('counts nothing for a call refused by the budget', async () => {
    script = [reply(200, {}, { 'x-test-remaining': '0', 'x-test-reset-ms': '90000' })];
    const c = client({ budget });
    const label = freshLabel();
    await c.send(get(label));
    const before = await countedAll('acme', label);
    await rejection(c.send(get(label)));
    expect((await countedAll('acme', label)) - before).toBe(0);
  });

  it('labels by the provider of the client', async () => {
    script = [reply(200, {})];
    const label = freshLabel();
    const before = await counted('other', label, '200');
    await client({ provider: OTHER }).send(get(label));
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
    script = [reply(503, { error: `bad ${WEBHOOK_SECRET}` }), destroy, delayed(1_000, reply(200, {})), reply(500, {})];
    const label = 'POST user.get';
    const c = client({
      provider: OTHER,
      baseUrl: `${baseUrl}/rest/1/${WEBHOOK_SECRET}/`,
      logger,
      timeoutMs: 100,
      retry: { maxAttempts: 4, maxTotalWaitMs: 2_000, baseDelayMs: 5 },
    });
    const error = await rejection(
      c.send({
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
      c.send({ method: 'GET', label: 'GET profile', path: path`/profile.json`, headers: { authorization: TOKEN } }),
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
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const c = client({ provider: OTHER, baseUrl: `http://127.0.0.1:${port}/rest/1/${WEBHOOK_SECRET}/`, logger });
    const error = await rejection(c.send({ method: 'GET', label: 'GET refused', path: path`/x.json`, headers: { authorization: TOKEN } }));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) assertClean('log line', line);
    assertClean('error', JSON.stringify({ message: error.message, extensions: error.extensions }));
  });
});
