import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ProviderError } from '../../core/errors.js';
import type { UpstreamSettings } from '../../core/settings.js';
import { captureLogs } from '../../testing/log-capture.js';
import { type RecordingProxy, startRecordingProxy } from '../../testing/recording-proxy.js';
import { rejection } from '../../testing/rejection.js';
import type { UpstreamResponse } from '../../upstream/http.js';
import { Bitrix24Portal, Bitrix24Service, classifyBitrixResponse, codeForBitrixError, type PortalOptions } from './client.js';
import type { PortalAccess } from './config.js';
import { type Bitrix24Emulator, startBitrix24Emulator } from './emulator/server.js';

/**
 * The Bitrix24 portal client's own contract, against the Bitrix24 emulator: the exact requests of
 * `im.user.list.get` and `batch` (webhook and OAuth), how answers are classified, the OAuth renewal,
 * and that no webhook secret or token shows up anywhere but on the wire. (What an operation makes of
 * it end to end is `test/bitrix24/`.)
 */

const WEBHOOK_SECRET = 'wh00kSECRETabc123';
const OAUTH = {
  clientId: 'app.client.1',
  clientSecret: 'cl1entSECRETxyz',
  accessToken: 'acc3ssSECRET-1',
  refreshToken: 'refr3shSECRET-1',
};
const RETRY = { maxAttempts: 3, maxTotalWaitMs: 2_000, baseDelayMs: 0 };

const opened: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(opened.splice(0).map((c) => c.close()));
});

function portal(access: PortalAccess, overrides: Partial<PortalOptions> = {}): Bitrix24Portal {
  const p = new Bitrix24Portal({
    name: 'portal.example',
    access,
    rate: { perSecond: 2, burst: 50 },
    connections: 2,
    timeoutMs: 5_000,
    retry: RETRY,
    logger: captureLogs('silent').logger,
    ...overrides,
  });
  opened.push(p);
  return p;
}

const jsonOf = (body: string) => JSON.parse(body) as Record<string, unknown>;

describe('Bitrix24Portal over a webhook', () => {
  let emulator: Bitrix24Emulator;
  let proxy: RecordingProxy;
  let webhookUrl: string;

  beforeAll(async () => {
    emulator = await startBitrix24Emulator({ webhook: { userId: 1, secret: WEBHOOK_SECRET }, maxKnownId: 100 });
    proxy = await startRecordingProxy(emulator.url);
    webhookUrl = `${proxy.url}/rest/1/${WEBHOOK_SECRET}/`;
  });
  afterEach(() => {
    emulator.reset();
    proxy.requests.length = 0;
  });
  afterAll(async () => {
    await proxy.close();
    await emulator.close();
  });

  it('userList: POST <webhook>im.user.list.get with a JSON body of the ids, keyed by id in the answer, null for unknown', async () => {
    const outcome = await portal({ kind: 'webhook', webhookUrl }).userList([2, 1, 101], false);
    expect(proxy.requests).toHaveLength(1);
    const [sent] = proxy.requests;
    expect(sent!.method).toBe('POST');
    expect(sent!.url).toBe(`/rest/1/${WEBHOOK_SECRET}/im.user.list.get`);
    expect(sent!.headers['content-type']).toBe('application/json');
    expect(sent!.headers.accept).toBe('application/json');
    expect(jsonOf(sent!.body)).toEqual({ ID: [2, 1, 101] });
    expect('users' in outcome).toBe(true);
    const users = (outcome as { users: Record<string, unknown> }).users;
    expect(Object.keys(users).sort()).toEqual(['1', '101', '2']);
    expect(users['1']).toMatchObject({ id: 1 });
    expect(users['101']).toBeNull();
    expect(emulator.requests[0]).toMatchObject({
      method: 'im.user.list.get',
      auth: 'webhook',
      ids: [2, 1, 101],
      avatarHr: false,
      status: 200,
    });
  });

  it('userList: asks AVATAR_HR=Y only when told to', async () => {
    const outcome = await portal({ kind: 'webhook', webhookUrl }).userList([3], true);
    expect(jsonOf(proxy.requests[0]!.body)).toEqual({ ID: [3], AVATAR_HR: 'Y' });
    expect((outcome as { users: Record<string, { avatar_hr?: string }> }).users['3']).toHaveProperty('avatar_hr');
  });

  it('batchUserLists: one POST <webhook>batch, a command per chunk in PHP query form, results per command', async () => {
    const outcomes = await portal({ kind: 'webhook', webhookUrl }).batchUserLists([[1, 2], [3], [200]], true);
    expect(proxy.requests).toHaveLength(1);
    const [sent] = proxy.requests;
    expect(sent!.url).toBe(`/rest/1/${WEBHOOK_SECRET}/batch`);
    expect(jsonOf(sent!.body)).toEqual({
      halt: 0,
      cmd: {
        c0: 'im.user.list.get?ID%5B%5D=1&ID%5B%5D=2&AVATAR_HR=Y',
        c1: 'im.user.list.get?ID%5B%5D=3&AVATAR_HR=Y',
        c2: 'im.user.list.get?ID%5B%5D=200&AVATAR_HR=Y',
      },
    });
    expect(emulator.requests[0]).toMatchObject({ method: 'batch', commands: 3, ids: [1, 2, 3, 200], avatarHr: true });
    expect(outcomes.map((o) => ('users' in o ? Object.keys(o.users).sort() : o))).toEqual([['1', '2'], ['3'], ['200']]);
    expect(outcomes[2]).toEqual({ users: { '200': null } });
  });

  it('batchUserLists: a command’s result_error comes back at that command only', async () => {
    emulator.failCommand(3, 'ACCESS_DENIED', 'emulated');
    const outcomes = await portal({ kind: 'webhook', webhookUrl }).batchUserLists([[1], [2, 3], [4]], false);
    expect(outcomes[0]).toMatchObject({ users: { '1': { id: 1 } } });
    expect(outcomes[1]).toEqual({ error: { error: 'ACCESS_DENIED', error_description: 'emulated' } });
    expect(outcomes[2]).toMatchObject({ users: { '4': { id: 4 } } });
  });

  it('a QUERY_LIMIT_EXCEEDED (503) is retried', async () => {
    emulator.failNext(1, 503);
    await portal({ kind: 'webhook', webhookUrl }).userList([1], false);
    expect(emulator.requests.map((r) => r.status)).toEqual([503, 200]);
  });

  it('an OPERATION_TIME_LIMIT (429) fails at once as RATE_LIMITED, retryAfter the method’s operating reset', async () => {
    const now = Date.UTC(2025, 2, 3, 4, 5, 6);
    vi.useFakeTimers({ toFake: ['Date'], now }); // the emulator's time block and the client's reading of it
    emulator.failNext(1, 429);
    const error = await rejection(portal({ kind: 'webhook', webhookUrl }).userList([1], false));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryAfter).toBe(600); // the 10-minute window the emulator's time block states
    expect(emulator.requests).toHaveLength(1);
  });

  it('a wrong webhook is UNAUTHENTICATED at once, and a persistent 500 UPSTREAM_UNAVAILABLE after the policy’s attempts', async () => {
    const wrong = await rejection(portal({ kind: 'webhook', webhookUrl: `${proxy.url}/rest/1/not-it/` }).userList([1], false));
    expect(wrong.code).toBe('UNAUTHENTICATED');
    expect(emulator.requests.map((r) => r.status)).toEqual([401]);

    emulator.reset();
    emulator.failNext(3, 500);
    expect((await rejection(portal({ kind: 'webhook', webhookUrl }).userList([1], false))).code).toBe('UPSTREAM_UNAVAILABLE');
    expect(emulator.requests.map((r) => r.status)).toEqual([500, 500, 500]);
  });

  it('keeps the webhook secret out of every error and log line', async () => {
    const logs = captureLogs('debug');
    const p = portal({ kind: 'webhook', webhookUrl }, { logger: logs.logger });
    emulator.failNext(1, 503);
    await p.userList([1], false);
    const errors = [
      await rejection(
        portal({ kind: 'webhook', webhookUrl: `${proxy.url}/rest/1/${WEBHOOK_SECRET}x/` }, { logger: logs.logger }).userList([1], false),
      ),
    ];
    emulator.failNext(3, 500);
    errors.push(await rejection(p.batchUserLists([[1], [2]], false)));
    expect(logs.lines.length).toBeGreaterThan(0);
    for (const text of [
      ...logs.lines,
      ...errors.map((e) => JSON.stringify({ message: e.message, extensions: e.extensions, stack: e.stack })),
    ]) {
      expect(text).not.toContain('SECRET');
    }
  });
});

describe('Bitrix24Portal over OAuth', () => {
  let emulator: Bitrix24Emulator;
  let proxy: RecordingProxy;

  beforeEach(async () => {
    emulator = await startBitrix24Emulator({ oauth: { ...OAUTH }, maxKnownId: 100 });
    proxy = await startRecordingProxy(emulator.url);
  });
  afterEach(async () => {
    await proxy.close();
    await emulator.close();
  });

  const oauth = (withRefresh = true): PortalAccess => ({
    kind: 'oauth',
    portalUrl: `${proxy.url}/`,
    accessToken: OAUTH.accessToken,
    refresh: withRefresh
      ? { refreshToken: OAUTH.refreshToken, clientId: OAUTH.clientId, clientSecret: OAUTH.clientSecret, oauthUrl: proxy.url }
      : undefined,
  });

  it('POSTs <portal>/rest/<method> with the access token as `auth` in the body', async () => {
    await portal(oauth()).userList([1], false);
    const [sent] = proxy.requests;
    expect(sent!.url).toBe('/rest/im.user.list.get');
    expect(jsonOf(sent!.body)).toEqual({ ID: [1], auth: OAUTH.accessToken });
    expect(emulator.requests[0]).toMatchObject({ auth: 'oauth', status: 200 });
  });

  it('renews an expired token through the refresh token once, shared by concurrent calls, and sends again', async () => {
    const p = portal(oauth());
    await p.userList([1], false);
    emulator.expireAccessToken();
    proxy.requests.length = 0;
    emulator.reset();

    await Promise.all([p.userList([2], false), p.batchUserLists([[3], [4]], false), p.userList([5], false)]);
    const renewals = proxy.requests.filter((r) => r.url.startsWith('/oauth/token/'));
    expect(renewals).toHaveLength(1);
    const query = Object.fromEntries(new URL(renewals[0]!.url, 'http://x').searchParams);
    expect(renewals[0]!.method).toBe('GET');
    expect(query).toEqual({
      grant_type: 'refresh_token',
      client_id: OAUTH.clientId,
      client_secret: OAUTH.clientSecret,
      refresh_token: OAUTH.refreshToken,
    });
    // Each call was refused once with the old token, then sent again with the new one.
    const { accessToken, refreshToken } = emulator.currentTokens();
    const rest = proxy.requests.filter((r) => r.url.startsWith('/rest/'));
    expect(rest.map((r) => jsonOf(r.body).auth).sort()).toEqual(
      [...Array(3).fill(accessToken), ...Array(3).fill(OAUTH.accessToken)].sort(),
    );
    expect(
      emulator.requests
        .filter((r) => r.method !== 'oauth.token')
        .map((r) => r.status)
        .sort(),
    ).toEqual([200, 200, 200, 401, 401, 401]);

    // The rotated refresh token is kept: the next renewal uses it (the emulator takes only the latest).
    emulator.expireAccessToken();
    proxy.requests.length = 0;
    await p.userList([6], false);
    const next = proxy.requests.find((r) => r.url.startsWith('/oauth/token/'));
    expect(new URL(next!.url, 'http://x').searchParams.get('refresh_token')).toBe(refreshToken);
  });

  it('without a refresh token, an expired token is UNAUTHENTICATED, with no renewal attempted', async () => {
    emulator.expireAccessToken();
    const error = await rejection(portal(oauth(false)).userList([1], false));
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(proxy.requests.map((r) => r.url)).toEqual(['/rest/im.user.list.get']);
  });

  it('a refresh the OAuth server refuses is UNAUTHENTICATED', async () => {
    emulator.expireAccessToken();
    const access = oauth();
    if (access.kind === 'oauth' && access.refresh) access.refresh.clientSecret = 'wrong';
    const error = await rejection(portal(access).userList([1], false));
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(emulator.requests.map((r) => [r.method, r.status])).toEqual([
      ['im.user.list.get', 401],
      ['oauth.token', 401],
    ]);
  });

  it('keeps tokens and the client secret out of every error and log line', async () => {
    const logs = captureLogs('debug');
    const p = portal(oauth(), { logger: logs.logger });
    emulator.expireAccessToken();
    await p.userList([1], false);
    const errors: ProviderError[] = [];
    emulator.expireAccessToken();
    const refused = oauth();
    if (refused.kind === 'oauth' && refused.refresh) refused.refresh.refreshToken = 'refr3shSECRET-stale';
    errors.push(await rejection(portal(refused, { logger: logs.logger }).userList([1], false)));
    emulator.failNext(3, 500);
    errors.push(await rejection(p.userList([2], false)));
    expect(logs.lines.some((line) => line.includes('renewed the OAuth access token'))).toBe(true);
    for (const text of [
      ...logs.lines,
      ...errors.map((e) => JSON.stringify({ message: e.message, extensions: e.extensions, stack: e.stack })),
    ]) {
      expect(text).not.toContain('SECRET');
      expect(text).not.toContain(emulator.currentTokens().accessToken);
    }
  });
});

describe('Bitrix24Service', () => {
  it('makes one portal per configured portal, by name, with the ids per command', async () => {
    const upstream: UpstreamSettings = {
      timeoutMs: 1_000,
      connections: 1,
      retry: RETRY,
      circuit: { failures: 5, coolDownMs: 30_000 },
      planner: { maxHoldMs: 2_000, maxQueuedIds: 10_000 },
    };
    const service = new Bitrix24Service(
      {
        maxIdsPerCall: 25,
        portals: [
          { name: 'a', access: { kind: 'webhook', webhookUrl: 'http://127.0.0.1:9/rest/1/x/' }, rate: { perSecond: 2, burst: 50 } },
          { name: 'b', access: { kind: 'oauth', portalUrl: 'http://127.0.0.1:9', accessToken: 't' }, rate: { perSecond: 2, burst: 50 } },
        ],
      },
      upstream,
      captureLogs('silent').logger,
    );
    opened.push(service);
    expect(service.maxIdsPerCall).toBe(25);
    expect([...service.portals.keys()]).toEqual(['a', 'b']);
    expect(service.portals.get('b')!.name).toBe('b');
  });
});

describe('classifyBitrixResponse', () => {
  const response = (status: number, body?: unknown): UpstreamResponse => ({ status, headers: {}, body });

  it('200 is ok; a 401 expired_token is ok for OAuth (the portal renews it) and final for a webhook', () => {
    expect(classifyBitrixResponse(response(200, { result: [] }), false)).toEqual({ kind: 'ok' });
    const expired = response(401, { error: 'expired_token', error_description: 'The access token provided has expired.' });
    expect(classifyBitrixResponse(expired, true)).toEqual({ kind: 'ok' });
    expect(classifyBitrixResponse(expired, false)).toEqual({ kind: 'fail', code: 'UNAUTHENTICATED' });
  });

  it('other 401s and 403s are a final UNAUTHENTICATED', () => {
    expect(classifyBitrixResponse(response(401, { error: 'NO_AUTH_FOUND' }), true)).toEqual({ kind: 'fail', code: 'UNAUTHENTICATED' });
    expect(classifyBitrixResponse(response(403, { error: 'insufficient_scope' }), false)).toEqual({
      kind: 'fail',
      code: 'UNAUTHENTICATED',
    });
  });

  it('QUERY_LIMIT_EXCEEDED (its error code, on a 503 or any status) is a retryable RATE_LIMITED; another 503 is the portal unavailable', () => {
    expect(classifyBitrixResponse(response(503, { error: 'QUERY_LIMIT_EXCEEDED' }), false)).toEqual({
      kind: 'retry',
      code: 'RATE_LIMITED',
    });
    expect(classifyBitrixResponse(response(503), false)).toEqual({ kind: 'retry', code: 'UPSTREAM_UNAVAILABLE' });
    expect(classifyBitrixResponse(response(400, { error: 'QUERY_LIMIT_EXCEEDED' }), false)).toEqual({
      kind: 'retry',
      code: 'RATE_LIMITED',
    });
  });

  it('OPERATION_TIME_LIMIT (429) is a final RATE_LIMITED, waiting until the time block’s operating_reset_at', () => {
    const now = Date.UTC(2025, 2, 3, 4, 5, 6);
    vi.useFakeTimers({ toFake: ['Date'], now });
    const body = { error: 'OPERATION_TIME_LIMIT', time: { operating_reset_at: now / 1000 + 120 } };
    expect(classifyBitrixResponse(response(429, body), false)).toEqual({ kind: 'fail', code: 'RATE_LIMITED', waitMs: 120_000 });
    expect(classifyBitrixResponse(response(400, body), false)).toEqual({ kind: 'fail', code: 'RATE_LIMITED', waitMs: 120_000 });
    expect(
      classifyBitrixResponse(response(429, { error: 'OPERATION_TIME_LIMIT', time: { operating_reset_at: now / 1000 - 5 } }), false),
    ).toEqual({
      kind: 'fail',
      code: 'RATE_LIMITED',
      waitMs: 0,
    });
    expect(classifyBitrixResponse(response(429), false)).toEqual({ kind: 'fail', code: 'RATE_LIMITED', waitMs: undefined });
  });

  it('400 is a final BAD_USER_INPUT, 5xx a retryable UPSTREAM_UNAVAILABLE, anything else a final one', () => {
    expect(classifyBitrixResponse(response(400, { error: 'INVALID_FORMAT' }), false)).toEqual({ kind: 'fail', code: 'BAD_USER_INPUT' });
    expect(classifyBitrixResponse(response(500, '<html>'), false)).toEqual({ kind: 'retry', code: 'UPSTREAM_UNAVAILABLE' });
    expect(classifyBitrixResponse(response(502), false)).toEqual({ kind: 'retry', code: 'UPSTREAM_UNAVAILABLE' });
    expect(classifyBitrixResponse(response(404, { error: 'ERROR_METHOD_NOT_FOUND' }), false)).toEqual({
      kind: 'fail',
      code: 'UPSTREAM_UNAVAILABLE',
    });
  });
});

describe('codeForBitrixError', () => {
  it('maps a batch command’s error to the code its ids get', () => {
    const expected = {
      QUERY_LIMIT_EXCEEDED: 'RATE_LIMITED',
      OPERATION_TIME_LIMIT: 'RATE_LIMITED',
      NO_AUTH_FOUND: 'UNAUTHENTICATED',
      expired_token: 'UNAUTHENTICATED',
      invalid_token: 'UNAUTHENTICATED',
      insufficient_scope: 'UNAUTHENTICATED',
      ACCESS_DENIED: 'UNAUTHENTICATED',
      INVALID_FORMAT: 'BAD_USER_INPUT',
      ERROR_METHOD_NOT_FOUND: 'UPSTREAM_UNAVAILABLE',
      INTERNAL_SERVER_ERROR: 'UPSTREAM_UNAVAILABLE',
    };
    expect(Object.fromEntries(Object.keys(expected).map((error) => [error, codeForBitrixError(error)]))).toEqual(expected);
  });
});
