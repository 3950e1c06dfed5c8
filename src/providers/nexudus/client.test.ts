import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { UpstreamSettings } from '../../core/settings.js';
import { captureLogs } from '../../testing/log-capture.js';
import { ManualClock } from '../../testing/manual-clock.js';
import { type RecordingProxy, startRecordingProxy } from '../../testing/recording-proxy.js';
import { rejection } from '../../testing/rejection.js';
import type { UpstreamResponse } from '../../upstream/http.js';
import { classifyNexudusResponse, NexudusClient } from './client.js';
import type { NexudusConfig } from './config.js';
import { type NexudusEmulator, startNexudusEmulator } from './emulator/server.js';
import type { NexudusCredentials } from './token.js';

/**
 * NexudusClient's own contract, against the Nexudus emulator: the exact list, single-record and token
 * requests, the account's token (issued once, shared, renewed), pacing of every request on a manual
 * clock, how answers are classified, and that no credential shows up anywhere but on the wire. (What
 * an operation makes of it end to end is `test/nexudus/`.)
 */

const LOGIN = { username: 'ops@space.example', password: 'pa55SECRETword' };
const STATIC_TOKEN = 'staticSECRETtoken';
const UPSTREAM: UpstreamSettings = {
  timeoutMs: 5_000,
  connections: 2,
  retry: { maxAttempts: 3, maxTotalWaitMs: 2_000, baseDelayMs: 0 },
  circuit: { failures: 5, coolDownMs: 30_000 },
  planner: { maxHoldMs: 2_000, maxQueuedIds: 10_000 },
};
const PASSWORD: NexudusCredentials = { kind: 'password', ...LOGIN };

let emulator: NexudusEmulator;
let proxy: RecordingProxy;
let clock: ManualClock;
const clients: NexudusClient[] = [];

beforeAll(async () => {
  // The emulator's own throttle runs on the wall clock; the client's pacing is tested on the manual one.
  emulator = await startNexudusEmulator({ ...LOGIN, staticToken: STATIC_TOKEN, throttle: false, maxKnownId: 100 });
  proxy = await startRecordingProxy(emulator.url);
});

beforeEach(() => {
  clock = new ManualClock();
});

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  emulator.reset();
  proxy.requests.length = 0;
});

afterAll(async () => {
  await proxy.close();
  await emulator.close();
});

function client(credentials: NexudusCredentials = PASSWORD, logger = captureLogs('silent').logger): NexudusClient {
  const config: NexudusConfig = {
    baseUrl: proxy.url,
    credentials,
    maxIdsPerCall: 100,
    fullRecordConcurrency: 4,
    maxFullRecordsPerOperation: 50,
  };
  const c = new NexudusClient({ config, upstream: UPSTREAM, logger, clock });
  clients.push(c);
  return c;
}

/** Settles `work`, moving the manual clock on whenever the pacer makes it wait. */
const run = <T>(work: Promise<T>) => clock.run(work);

const tokenRequests = () => proxy.requests.filter((r) => r.url === '/api/token');
const userRequests = () => proxy.requests.filter((r) => r.url.startsWith('/api/sys/users/'));

describe('NexudusClient: requests', () => {
  it('list: GET /api/sys/users/?id=[…] with the bearer token; known records come back, in any order', async () => {
    const users = await run(client().partialUsers([3, 1, 101]));
    const [sent] = userRequests();
    expect(sent!.method).toBe('GET');
    expect(sent!.url).toBe(`/api/sys/users/?id=${encodeURIComponent('[3,1,101]')}`);
    expect(sent!.headers.accept).toBe('application/json');
    expect(sent!.headers.authorization).toMatch(/^Bearer \S+$/);
    expect(users.map((u) => u.Id).sort()).toEqual([1, 3]);
  });

  it('one: GET /api/sys/users/{id}; a 404 is undefined', async () => {
    const c = client();
    expect(await run(c.fullUser(7))).toMatchObject({ Id: 7 });
    expect(await run(c.fullUser(999))).toBeUndefined();
    expect(userRequests().map((r) => r.url)).toEqual(['/api/sys/users/7', '/api/sys/users/999']);
  });

  it('paces every request to the account, the token call included: 1 per 100 ms here', async () => {
    const c = client();
    await run(c.partialUsers([1]));
    expect(proxy.requests.map((r) => r.url.split('?')[0])).toEqual(['/api/token', '/api/sys/users/']);
    expect(clock.now()).toBe(100); // the list call waited 100 ms after the token call's answer
    await run(c.fullUser(2));
    expect(clock.now()).toBe(200);
  });

  it('a 503 (an HTML page) is retried', async () => {
    const c = client();
    await run(c.partialUsers([1]));
    emulator.failNext(1, 503);
    expect((await run(c.partialUsers([2]))).map((u) => u.Id)).toEqual([2]);
    expect(emulator.requests.slice(-2).map((r) => r.status)).toEqual([503, 200]);
  });
});

describe('NexudusClient: the token', () => {
  it('logs in once with the password grant, form-encoded, and shares the token between calls', async () => {
    const c = client();
    await run(Promise.all([c.partialUsers([1]), c.fullUser(2), c.partialUsers([3])]));
    await run(c.fullUser(4));
    expect(tokenRequests()).toHaveLength(1);
    const [login] = tokenRequests();
    expect(login!.method).toBe('POST');
    expect(login!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(login!.body))).toEqual({ grant_type: 'password', ...LOGIN });
    const bearers = new Set(userRequests().map((r) => r.headers.authorization));
    expect(bearers.size).toBe(1);
    expect(userRequests()).toHaveLength(4);
  });

  it('a token the API refuses is renewed once with the refresh token, for every call in flight, and the calls sent again', async () => {
    const c = client();
    await run(c.partialUsers([1]));
    const firstBearer = userRequests()[0]!.headers.authorization;
    emulator.expireTokens();
    proxy.requests.length = 0;

    await run(Promise.all([c.partialUsers([2]), c.fullUser(3)]));
    expect(tokenRequests()).toHaveLength(1);
    const grant = Object.fromEntries(new URLSearchParams(tokenRequests()[0]!.body));
    expect(grant.grant_type).toBe('refresh_token');
    expect(grant.refresh_token).toMatch(/^\S+$/);
    const sent = userRequests().map((r) => r.headers.authorization);
    expect(sent.filter((b) => b === firstBearer)).toHaveLength(2); // refused
    expect(sent.filter((b) => b !== firstBearer)).toHaveLength(2); // sent again with the new one
  });

  it('renews a token ahead of its expiry, with the refresh token, before the API refuses it', async () => {
    const c = client();
    const issuedAt = clock.now(); // the token call is the first request: the pacer lets it go at once
    await run(c.partialUsers([1])); // a 7-day token: renewed 5 minutes before it ends
    const renewAt = issuedAt + 604_799_000 - 5 * 60_000;
    await clock.advance(renewAt - 1 - clock.now());
    await run(c.partialUsers([2]));
    expect(tokenRequests()).toHaveLength(1);
    await clock.advance(renewAt - clock.now());
    await run(c.partialUsers([3]));
    expect(tokenRequests().map((r) => new URLSearchParams(r.body).get('grant_type'))).toEqual(['password', 'refresh_token']);
    expect(emulator.requests.filter((r) => r.kind === 'list').map((r) => r.status)).toEqual([200, 200, 200]);
  });

  it('wrong credentials are UNAUTHENTICATED, with no user request sent', async () => {
    const error = await rejection(run(client({ kind: 'password', username: LOGIN.username, password: 'wrong' }).partialUsers([1])));
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(tokenRequests()).toHaveLength(1);
    expect(userRequests()).toHaveLength(0);
  });

  it('a configured token is used as is: no token call; refused, it is UNAUTHENTICATED', async () => {
    expect(await run(client({ kind: 'token', token: STATIC_TOKEN }).fullUser(5))).toMatchObject({ Id: 5 });
    expect(proxy.requests.map((r) => [r.url, r.headers.authorization])).toEqual([['/api/sys/users/5', `Bearer ${STATIC_TOKEN}`]]);

    proxy.requests.length = 0;
    const error = await rejection(run(client({ kind: 'token', token: `${STATIC_TOKEN}-old` }).fullUser(5)));
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(proxy.requests.map((r) => r.url)).toEqual(['/api/sys/users/5']);
  });
});

describe('NexudusClient: secrets', () => {
  it('never puts the password or a token in an error or a log line', async () => {
    const logs = captureLogs('debug');
    const c = client(PASSWORD, logs.logger);
    await run(c.partialUsers([1]));
    emulator.expireTokens();
    emulator.failNext(1, 503);
    await run(c.fullUser(2));
    const errors = [
      await rejection(
        run(client({ kind: 'password', username: LOGIN.username, password: `${LOGIN.password}x` }, logs.logger).partialUsers([1])),
      ),
      await rejection(run(client({ kind: 'token', token: `${STATIC_TOKEN}x` }, logs.logger).partialUsers([1]))),
    ];
    emulator.failNext(3, 500);
    errors.push(await rejection(run(c.partialUsers([3]))));

    const issued = new Set(proxy.requests.map((r) => r.headers.authorization?.replace(/^Bearer /, '')).filter((t) => t !== undefined));
    expect(issued.size).toBeGreaterThan(1);
    expect(logs.lines.length).toBeGreaterThan(0);
    for (const text of [
      ...logs.lines,
      ...errors.map((e) => JSON.stringify({ message: e.message, extensions: e.extensions, stack: e.stack })),
    ]) {
      expect(text).not.toContain('SECRET');
      for (const token of issued) expect(text).not.toContain(token);
    }
  });
});

describe('classifyNexudusResponse', () => {
  const response = (status: number, headers: Record<string, string> = {}): UpstreamResponse => ({ status, headers, body: undefined });

  it('200, 404 (no such user) and 401 (the client renews its token) are answers', () => {
    for (const status of [200, 404, 401]) expect(classifyNexudusResponse(response(status)), String(status)).toEqual({ kind: 'ok' });
  });

  it('409 (Nexudus throttling) and 429 are a retryable RATE_LIMITED after their Retry-After', () => {
    expect(classifyNexudusResponse(response(409, { 'retry-after': '1' }))).toEqual({ kind: 'retry', code: 'RATE_LIMITED', waitMs: 1_000 });
    expect(classifyNexudusResponse(response(429))).toEqual({ kind: 'retry', code: 'RATE_LIMITED', waitMs: undefined });
  });

  it('403 (no User-Read role) is a final UNAUTHENTICATED; 400 a final BAD_USER_INPUT', () => {
    expect(classifyNexudusResponse(response(403))).toEqual({ kind: 'fail', code: 'UNAUTHENTICATED' });
    expect(classifyNexudusResponse(response(400))).toEqual({ kind: 'fail', code: 'BAD_USER_INPUT' });
  });

  it('5xx is a retryable UPSTREAM_UNAVAILABLE, with its Retry-After; anything else a final one', () => {
    expect(classifyNexudusResponse(response(503))).toEqual({ kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', waitMs: undefined });
    expect(classifyNexudusResponse(response(500, { 'retry-after': '3' }))).toEqual({
      kind: 'retry',
      code: 'UPSTREAM_UNAVAILABLE',
      waitMs: 3_000,
    });
    expect(classifyNexudusResponse(response(405))).toEqual({ kind: 'fail', code: 'UPSTREAM_UNAVAILABLE' });
  });
});
