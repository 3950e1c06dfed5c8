import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { captureLogs } from '../../testing/log-capture.js';
import { type RecordingProxy, startRecordingProxy } from '../../testing/recording-proxy.js';
import { rejection } from '../../testing/rejection.js';
import type { UpstreamResponse } from '../../upstream/http.js';
import { classifyXResponse, XClient, type XClientOptions } from './client.js';
import { startXEmulator, type XEmulator } from './emulator/server.js';
import { X } from './id.js';

/**
 * XClient's own contract, against the X emulator: the exact request each lookup sends, how X's
 * answers are classified, and that the bearer token shows up nowhere but on the wire. (What an
 * operation makes of it end to end is `test/x/`.)
 */

const TOKEN = 'x-client-test-bearer-SECRET-0123456789';
const NO_RETRY_WAIT = { maxAttempts: 3, maxTotalWaitMs: 0, baseDelayMs: 0 };

let emulator: XEmulator;
let proxy: RecordingProxy;
const clients: XClient[] = [];

beforeAll(async () => {
  emulator = await startXEmulator({ bearerToken: TOKEN, maxKnownId: 50, suspendedIds: ['13'] });
  proxy = await startRecordingProxy(emulator.url);
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  emulator.reset();
  proxy.requests.length = 0;
  vi.useRealTimers();
});

afterAll(async () => {
  await proxy.close();
  await emulator.close();
});

function client(overrides: Partial<XClientOptions> = {}): XClient {
  const c = new XClient({
    baseUrl: proxy.url,
    bearerToken: TOKEN,
    connections: 2,
    timeoutMs: 5_000,
    retry: NO_RETRY_WAIT,
    logger: captureLogs('silent').logger,
    ...overrides,
  });
  clients.push(c);
  return c;
}

/** Query parameters of a recorded request, in the order they were sent. */
const queryOf = (url: string) => [...new URL(url, 'http://x').searchParams];
const pathOf = (url: string) => new URL(url, 'http://x').pathname;

describe('XClient: requests', () => {
  it('usersByIds: GET /2/users with the ids, then each field-set parameter once, comma-joined, and the bearer token', async () => {
    const response = await client().usersByIds(
      ['3', '1', '2'],
      ['expansions=pinned_tweet_id', 'tweet.fields=created_at', 'user.fields=created_at', 'user.fields=pinned_tweet_id'],
    );
    expect(proxy.requests).toHaveLength(1);
    const [sent] = proxy.requests;
    expect(sent!.method).toBe('GET');
    expect(pathOf(sent!.url)).toBe('/2/users');
    expect(queryOf(sent!.url)).toEqual([
      ['ids', '3,1,2'],
      ['expansions', 'pinned_tweet_id'],
      ['tweet.fields', 'created_at'],
      ['user.fields', 'created_at,pinned_tweet_id'],
    ]);
    expect(sent!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(sent!.headers.accept).toBe('application/json');
    expect(sent!.body).toBe('');
    // The answer comes back as X sent it (here in reverse order, with the expansions).
    expect(response.data?.map((u) => u.id)).toEqual(['2', '1', '3']);
    expect(response.data?.[0]).toMatchObject({ id: '2', created_at: expect.any(String) });
    expect(response.includes?.tweets?.length).toBeGreaterThan(0);
  });

  it('sends only the keys for an empty field set', async () => {
    await client().usersByIds(['1'], []);
    expect(queryOf(proxy.requests[0]!.url)).toEqual([['ids', '1']]);
  });

  it('usersByUsernames: GET /2/users/by?usernames=…, names as given', async () => {
    const response = await client().usersByUsernames(['User3', 'user4'], ['user.fields=created_at']);
    const [sent] = proxy.requests;
    expect(pathOf(sent!.url)).toBe('/2/users/by');
    expect(queryOf(sent!.url)).toEqual([
      ['usernames', 'User3,user4'],
      ['user.fields', 'created_at'],
    ]);
    expect(response.data?.map((u) => u.id).sort()).toEqual(['3', '4']);
  });

  it('tweetsByIds: GET /2/tweets?ids=…, with the author expansion when the field set has it', async () => {
    const ids = (await client().usersByIds(['5'], ['user.fields=pinned_tweet_id'])).data?.[0]?.pinned_tweet_id;
    expect(ids).toBeDefined();
    proxy.requests.length = 0;
    const response = await client().tweetsByIds([ids!], ['expansions=author_id', 'tweet.fields=author_id', 'user.fields=created_at']);
    const [sent] = proxy.requests;
    expect(pathOf(sent!.url)).toBe('/2/tweets');
    expect(queryOf(sent!.url)).toEqual([
      ['ids', ids!],
      ['expansions', 'author_id'],
      ['tweet.fields', 'author_id'],
      ['user.fields', 'created_at'],
    ]);
    expect(response.data?.[0]).toMatchObject({ id: ids, author_id: '5' });
    expect(response.includes?.users?.[0]).toMatchObject({ id: '5', created_at: expect.any(String) });
  });

  it('returns partial answers as they are: per-key problems in `errors`', async () => {
    const response = await client().usersByIds(['1', '13', '999'], []);
    expect(response.data?.map((u) => u.id)).toEqual(['1']);
    expect(response.errors?.map((p) => [p.value, p.title])).toEqual([
      ['13', 'Forbidden'],
      ['999', 'Not Found Error'],
    ]);
  });

  it('encodes keys as one query value: a key cannot add a parameter', async () => {
    // The lookup validates keys first; the client still never lets one change the request's shape.
    const error = await rejection(client().usersByIds(['1&user.fields=password'], []));
    expect(error.code).toBe('BAD_USER_INPUT'); // X's 400: the value is one (invalid) id
    expect(queryOf(proxy.requests[0]!.url)).toEqual([['ids', '1&user.fields=password']]);
  });
});

describe('XClient: answers', () => {
  it('a 401 (a token X refuses) is UNAUTHENTICATED at once, not retried', async () => {
    const error = await rejection(client({ bearerToken: 'wrong' }).usersByIds(['1'], []));
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(error.provider).toBe(X);
    expect(emulator.requests.map((r) => r.status)).toEqual([401]);
  });

  it('a 400 is BAD_USER_INPUT at once, not retried', async () => {
    const error = await rejection(client().usersByIds(['not-an-id'], []));
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(emulator.requests.map((r) => r.status)).toEqual([400]);
  });

  it('a 503 is retried, as often as the policy allows', async () => {
    emulator.failNext(1, 503);
    expect((await client().usersByIds(['1'], [])).data).toHaveLength(1);
    expect(emulator.requests.map((r) => r.status)).toEqual([503, 200]);

    emulator.reset();
    emulator.failNext(3, 502);
    expect((await rejection(client().usersByIds(['1'], []))).code).toBe('UPSTREAM_UNAVAILABLE');
    expect(emulator.requests.map((r) => r.status)).toEqual([502, 502, 502]);
  });

  it('a 429 whose reset is further away than the wait cap fails at once with RATE_LIMITED and the reset as retryAfter', async () => {
    const now = Date.UTC(2025, 5, 1, 12, 0, 0);
    vi.useFakeTimers({ toFake: ['Date'], now }); // the emulator's windows and the client's reading share it
    emulator.setRemaining('/2/users', 0, now / 1000 + 900);
    const error = await rejection(client().usersByIds(['1'], []));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryAfter).toBe(900);
    expect(emulator.requests.map((r) => r.status)).toEqual([429]);
  });

  it('after a 200 that spends the last of the window, fails fast until the reset without sending', async () => {
    const now = Date.UTC(2025, 5, 1, 12, 0, 0);
    vi.useFakeTimers({ toFake: ['Date'], now });
    emulator.setRemaining('/2/users', 1, now / 1000 + 600);
    const c = client();
    await c.usersByIds(['1'], []);
    const error = await rejection(c.usersByIds(['2'], []));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryAfter).toBeGreaterThan(0);
    expect(error.retryAfter).toBeLessThanOrEqual(600);
    expect(emulator.requests).toHaveLength(1);
    // Another endpoint has its own window.
    await c.usersByUsernames(['user1'], []);
    expect(emulator.requests).toHaveLength(2);
  });
});

describe('classifyXResponse', () => {
  const response = (status: number, headers: Record<string, string> = {}): UpstreamResponse => ({ status, headers, body: undefined });

  it('200 is ok', () => {
    expect(classifyXResponse(response(200))).toEqual({ kind: 'ok' });
  });

  it('429 is a retryable RATE_LIMITED, waiting until x-rate-limit-reset, else Retry-After, else unknown', () => {
    const now = Date.UTC(2025, 5, 1, 12, 0, 0);
    vi.useFakeTimers({ toFake: ['Date'], now });
    expect(classifyXResponse(response(429, { 'x-rate-limit-reset': String(now / 1000 + 42) }))).toEqual({
      kind: 'retry',
      code: 'RATE_LIMITED',
      waitMs: 42_000,
    });
    expect(classifyXResponse(response(429, { 'x-rate-limit-reset': String(now / 1000 + 42), 'retry-after': '7' }))).toMatchObject({
      waitMs: 42_000,
    });
    expect(classifyXResponse(response(429, { 'retry-after': '7' }))).toEqual({ kind: 'retry', code: 'RATE_LIMITED', waitMs: 7_000 });
    expect(classifyXResponse(response(429))).toEqual({ kind: 'retry', code: 'RATE_LIMITED', waitMs: undefined });
  });

  it('401 and 403 are a final UNAUTHENTICATED', () => {
    for (const status of [401, 403]) expect(classifyXResponse(response(status))).toEqual({ kind: 'fail', code: 'UNAUTHENTICATED' });
  });

  it('5xx is a retryable UPSTREAM_UNAVAILABLE, with its Retry-After if any', () => {
    expect(classifyXResponse(response(503))).toEqual({ kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', waitMs: undefined });
    expect(classifyXResponse(response(500, { 'retry-after': '2' }))).toEqual({
      kind: 'retry',
      code: 'UPSTREAM_UNAVAILABLE',
      waitMs: 2_000,
    });
  });

  it('400 is a final BAD_USER_INPUT; any other status a final UPSTREAM_UNAVAILABLE', () => {
    expect(classifyXResponse(response(400))).toEqual({ kind: 'fail', code: 'BAD_USER_INPUT' });
    for (const status of [301, 404, 409, 418]) {
      expect(classifyXResponse(response(status))).toEqual({ kind: 'fail', code: 'UPSTREAM_UNAVAILABLE' });
    }
  });
});

describe('XClient: secrets', () => {
  it('never puts the bearer token in an error or a log line, whatever happens', async () => {
    const logs = captureLogs('debug');
    const c = client({ logger: logs.logger });
    emulator.failNext(1, 503);
    await c.usersByIds(['1'], ['user.fields=created_at']);
    const errors = [
      await rejection(c.usersByIds(['bad'], [])),
      await rejection(client({ logger: logs.logger, bearerToken: `${TOKEN}-revoked` }).usersByIds(['1'], [])),
    ];
    emulator.failNext(3, 500);
    errors.push(await rejection(c.tweetsByIds(['1'], [])));

    expect(proxy.requests.every((r) => r.headers.authorization?.includes(TOKEN))).toBe(true); // it was used...
    expect(logs.lines.length).toBeGreaterThan(0);
    for (const text of [
      ...logs.lines,
      ...errors.map((e) => JSON.stringify({ message: e.message, extensions: e.extensions, stack: e.stack })),
    ]) {
      expect(text).not.toContain('SECRET'); // ...and shows nowhere else
    }
  });
});
