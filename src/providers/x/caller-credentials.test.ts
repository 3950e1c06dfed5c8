import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CallerCredential } from '../../core/types.js';
import { credentialScope } from '../../credentials/read.js';
import { captureLogs } from '../../testing/log-capture.js';
import { type RecordingProxy, startRecordingProxy } from '../../testing/recording-proxy.js';
import { rejection } from '../../testing/rejection.js';
import { xCallerCredentials } from './caller-credentials.js';
import { XClient } from './client.js';
import { startXEmulator, type XEmulator } from './emulator/server.js';
import { X } from './id.js';

/**
 * A caller's own X user token (docs/access-control.md, "Per-caller credentials"): read from its header, sent as the
 * bearer token of the caller's lookups instead of the app's, its rate budget kept apart, its refusal
 * the caller's. (End to end, through the server: `test/sharing/callers.test.ts`.)
 */

const APP = 'x-app-bearer-SECRET-0001';
const ALICE = 'alice-user-SECRET-0002';
const BOB = 'bob-user-SECRET-0003';
const NAMES = { token: 'x-caller-x-token' };
const as = (token: string): CallerCredential => ({ token, scope: credentialScope(X, '', token) });

let emulator: XEmulator;
let proxy: RecordingProxy;
const logs = captureLogs('debug');
let client: XClient;

beforeAll(async () => {
  emulator = await startXEmulator({
    bearerToken: APP,
    maxKnownId: 50,
    userTokens: [
      { name: 'alice', token: ALICE, follows: ['17'] },
      { name: 'bob', token: BOB },
    ],
    protectedPosts: 'followers',
  });
  proxy = await startRecordingProxy(emulator.url);
  client = new XClient({
    baseUrl: proxy.url,
    bearerToken: APP,
    connections: 2,
    timeoutMs: 5_000,
    retry: { maxAttempts: 3, maxTotalWaitMs: 0, baseDelayMs: 0 },
    logger: logs.logger,
  });
});
afterEach(() => {
  emulator.reset();
  proxy.requests.length = 0;
});
afterAll(async () => {
  await client.close();
  await proxy.close();
  await emulator.close();
});

describe('xCallerCredentials', () => {
  it('takes the token header as the token of the one partition, and nothing without it', () => {
    expect(xCallerCredentials.read({ token: ALICE }, client, NAMES)).toEqual(new Map([['', ALICE]]));
    expect(xCallerCredentials.read({}, client, NAMES)).toEqual(new Map());
    expect(xCallerCredentials.headers.token).toMatchObject({ variable: 'X_CALLER_TOKEN_HEADER', defaultName: 'x-caller-x-token' });
  });
});

describe('XClient with a caller credential', () => {
  it('sends the caller’s token as the bearer token instead of the app’s, and X answers as that user', async () => {
    const fields = ['expansions=pinned_tweet_id', 'tweet.fields=author_id'];
    const alice = await client.usersByIds(['17'], fields, undefined, as(ALICE));
    const app = await client.usersByIds(['17'], fields);
    expect(proxy.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${ALICE}`, `Bearer ${APP}`]);
    expect(emulator.requests.map((r) => r.principal)).toEqual(['alice', 'app']);
    // Alice follows 17, a protected account: she sees its pinned post, the app does not.
    expect(alice.includes?.tweets?.map((t) => t.id)).toEqual(['17001']);
    expect(app.includes).toBeUndefined();
    expect(app.errors?.[0]).toMatchObject({ resource_id: '17001', title: 'Authorization Error' });
  });

  it('keeps each token’s rate budget apart: a user’s spent window fails only that user’s calls fast', async () => {
    const resetS = Math.floor(Date.now() / 1000) + 600;
    emulator.setRemaining('/2/users', 0, resetS, 'alice');
    const limited = await rejection(client.usersByIds(['1'], [], undefined, as(ALICE)));
    expect([limited.code, limited.retryAfter]).toEqual(['RATE_LIMITED', expect.any(Number)]);
    // Alice's next call is refused here, without spending a request; Bob and the app still go.
    const again = await rejection(client.usersByIds(['2'], [], undefined, as(ALICE)));
    expect(again.code).toBe('RATE_LIMITED');
    await client.usersByIds(['3'], [], undefined, as(BOB));
    await client.usersByIds(['4'], []);
    expect(emulator.requests.map((r) => [r.principal, r.status])).toEqual([
      ['alice', 429],
      ['bob', 200],
      ['app', 200],
    ]);
  });

  it('a refused caller token is UNAUTHENTICATED, the caller’s to renew: once, never tried with the app’s token', async () => {
    const error = await rejection(client.usersByIds(['1'], [], undefined, as('carol-revoked-SECRET-0004')));
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(error.message).toBe("X refused the caller's own credential (expired, revoked, or without access): renew it and send it again");
    expect(proxy.requests.map((r) => r.headers.authorization)).toEqual(['Bearer carol-revoked-SECRET-0004']);
    // The app's own token refused stays the subgraph's.
    emulator.failNext(1, { kind: 'status', status: 401 });
    expect((await rejection(client.usersByIds(['1'], []))).message).toBe("X rejected this subgraph's credentials");
  });

  it('keeps every token out of errors and log lines', async () => {
    emulator.setRemaining('/2/users', 0, Math.floor(Date.now() / 1000) + 600, 'bob');
    const errors = [
      await rejection(client.usersByIds(['1'], [], undefined, as(BOB))),
      await rejection(client.usersByIds(['1'], [], undefined, as('dave-SECRET-0005'))),
    ];
    for (const text of [...logs.lines, ...errors.map((e) => JSON.stringify({ message: e.message, extensions: e.extensions }))]) {
      expect(text).not.toContain('SECRET');
    }
  });
});
