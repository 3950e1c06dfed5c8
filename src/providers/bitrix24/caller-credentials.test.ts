import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CallerCredential } from '../../core/types.js';
import { credentialScope } from '../../credentials/read.js';
import { captureLogs } from '../../testing/log-capture.js';
import { type RecordingProxy, startRecordingProxy } from '../../testing/recording-proxy.js';
import { rejection } from '../../testing/rejection.js';
import { bitrix24CallerCredentials } from './caller-credentials.js';
import { Bitrix24Portal, type Bitrix24Service } from './client.js';
import type { PortalAccess } from './config.js';
import { type Bitrix24Emulator, startBitrix24Emulator } from './emulator/server.js';
import { BITRIX24 } from './id.js';

/**
 * A caller's own Bitrix24 access token (docs/access-control.md, "Per-caller credentials"): which configured portal it is
 * for, and the portal client's calls with it: to the portal's REST base only, as `auth`, never renewed.
 * (End to end, through the server: `test/sharing/callers.test.ts`.)
 */

const WEBHOOK_SECRET = 'wh00kSECRET-caller-1';
const OAUTH = { clientId: 'app.1', clientSecret: 'cl1entSECRET-2', accessToken: 'appACCESS-SECRET-3', refreshToken: 'appREFRESH-SECRET-4' };
const ALICE = 'aliceACCESS-SECRET-5';
const BOB = 'bobACCESS-SECRET-6';
const NAMES = { token: 'x-caller-bitrix24-token', portal: 'x-caller-bitrix24-portal' };

const service = (...names: string[]) => ({ portals: new Map(names.map((name) => [name, {}])) }) as unknown as Bitrix24Service;
const as = (portal: string, token: string): CallerCredential => ({ token, scope: credentialScope(BITRIX24, portal, token) });
const jsonOf = (body: string) => JSON.parse(body) as Record<string, unknown>;

describe('bitrix24CallerCredentials.read', () => {
  const { read } = bitrix24CallerCredentials;

  it('takes the token for the named portal, or for the only one when none is named', () => {
    expect(read({ token: ALICE, portal: 'globex' }, service('acme', 'globex'), NAMES)).toEqual(new Map([['globex', ALICE]]));
    expect(read({ token: ALICE }, service('acme'), NAMES)).toEqual(new Map([['acme', ALICE]]));
  });

  it('refuses a portal that is not configured (a host, a URL, a near miss) without naming the configured ones', () => {
    for (const portal of ['evil.example', 'https://evil.example/rest/', 'acme ', 'ACME', '127.0.0.1:6379']) {
      expect(read({ token: ALICE, portal }, service('acme', 'globex'), NAMES)).toEqual({
        problem: 'the x-caller-bitrix24-portal header names no configured Bitrix24 portal',
      });
    }
  });

  it('refuses a token without a portal when several are configured, and a portal without a token', () => {
    expect(read({ token: ALICE }, service('acme', 'globex'), NAMES)).toEqual({
      problem: "several Bitrix24 portals are configured: name the token's portal in x-caller-bitrix24-portal",
    });
    expect(read({ portal: 'acme' }, service('acme'), NAMES)).toEqual({
      problem: 'the x-caller-bitrix24-portal header was sent without x-caller-bitrix24-token',
    });
  });
});

describe('Bitrix24Portal with a caller credential', () => {
  let emulator: Bitrix24Emulator;
  let proxy: RecordingProxy;
  const logs = captureLogs('debug');
  const opened: Bitrix24Portal[] = [];

  beforeAll(async () => {
    emulator = await startBitrix24Emulator({
      webhook: { userId: 1, secret: WEBHOOK_SECRET },
      oauth: { ...OAUTH },
      maxKnownId: 100,
      bucket: { perSecond: 1000, burst: 1000 },
      callerTokens: [
        { name: 'alice', token: ALICE, sees: [42] },
        { name: 'bob', token: BOB },
      ],
      restrictedIds: [42],
    });
    proxy = await startRecordingProxy(emulator.url);
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((p) => p.close()));
    emulator.reset();
    proxy.requests.length = 0;
  });
  afterAll(async () => {
    await proxy.close();
    await emulator.close();
  });

  function portal(access: PortalAccess): Bitrix24Portal {
    const p = new Bitrix24Portal({
      name: 'acme',
      access,
      rate: { perSecond: 100, burst: 100 },
      connections: 2,
      timeoutMs: 5_000,
      retry: { maxAttempts: 3, maxTotalWaitMs: 2_000, baseDelayMs: 0 },
      logger: logs.logger,
    });
    opened.push(p);
    return p;
  }
  const webhook = (): PortalAccess => ({ kind: 'webhook', webhookUrl: `${proxy.url}/rest/1/${WEBHOOK_SECRET}/` });
  const oauth = (): PortalAccess => ({
    kind: 'oauth',
    portalUrl: proxy.url,
    accessToken: OAUTH.accessToken,
    refresh: { refreshToken: OAUTH.refreshToken, clientId: OAUTH.clientId, clientSecret: OAUTH.clientSecret, oauthUrl: proxy.url },
  });

  it('a webhook portal: the token goes as `auth` to the REST base of the webhook’s host, never to the webhook', async () => {
    const p = portal(webhook());
    const alice = await p.userList([42, 1], false, undefined, as('acme', ALICE));
    const server = await p.userList([42], false);
    await p.batchUserLists([[1], [2]], false, undefined, as('acme', BOB));
    expect(proxy.requests.map((r) => [r.url, jsonOf(r.body).auth])).toEqual([
      ['/rest/im.user.list.get', ALICE],
      [`/rest/1/${WEBHOOK_SECRET}/im.user.list.get`, undefined],
      ['/rest/batch', BOB],
    ]);
    expect(emulator.requests.map((r) => [r.auth, r.caller])).toEqual([
      ['oauth', 'alice'],
      ['webhook', undefined],
      ['oauth', 'bob'],
    ]);
    // 42 is visible to Alice alone: her answer has it, the webhook's does not.
    expect(alice).toMatchObject({ users: { '42': { id: 42 }, '1': { id: 1 } } });
    expect(server).toEqual({ users: { '42': null } });
  });

  it('an OAuth portal: the caller’s token instead of the app’s, to the same REST base', async () => {
    await portal(oauth()).userList([1], false, undefined, as('acme', ALICE));
    expect(proxy.requests.map((r) => [r.url, jsonOf(r.body).auth])).toEqual([['/rest/im.user.list.get', ALICE]]);
  });

  it('an expired caller token is UNAUTHENTICATED, the caller’s: no renewal with the app’s refresh token, no retry', async () => {
    emulator.expireCallerToken('bob');
    const error = await rejection(portal(oauth()).userList([1], false, undefined, as('acme', BOB)));
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(error.message).toBe(
      "Bitrix24 refused the caller's own credential (expired, revoked, or without access): renew it and send it again",
    );
    expect(emulator.requests.map((r) => [r.method, r.status, r.caller])).toEqual([['im.user.list.get', 401, 'bob']]);
    expect(proxy.requests.filter((r) => r.url.startsWith('/oauth/'))).toEqual([]);
    // The app's own token still works, and is still the portal's to renew.
    expect(await portal(oauth()).userList([1], false)).toMatchObject({ users: { '1': { id: 1 } } });
  });

  it('keeps every token and the webhook secret out of errors and log lines', async () => {
    const errors = [
      await rejection(portal(webhook()).userList([1], false, undefined, as('acme', 'unknownACCESS-SECRET-7'))),
      await rejection(portal(oauth()).batchUserLists([[1], [2]], false, undefined, as('acme', 'unknownACCESS-SECRET-8'))),
    ];
    for (const text of [...logs.lines, ...errors.map((e) => JSON.stringify({ message: e.message, extensions: e.extensions }))]) {
      expect(text).not.toContain('SECRET');
    }
  });
});
