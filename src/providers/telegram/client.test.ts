import { type Long, tl } from '@mtcute/node';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Runtime } from '../../core/lookup.js';
import type { UpstreamSettings } from '../../core/settings.js';
import { RequestContext } from '../../request/context.js';
import { upstreamRequests } from '../../telemetry/metrics.js';
import { captureLogs } from '../../testing/log-capture.js';
import { ManualClock } from '../../testing/manual-clock.js';
import { rejection } from '../../testing/rejection.js';
import { bindTelegramLookups, telegramUsersByUsername } from './batch.js';
import { classifyTelegramError, type TelegramClient } from './client.js';
import { telegramClient } from './connect.js';
import { demoAccessHash } from './emulator/demo-data.js';
import { createEmulatedTelegramClient, TelegramEmulator, type TelegramEmulatorOptions } from './emulator/server.js';
import { TELEGRAM } from './id.js';
import type { TelegramRpc } from './transport.js';

const silent = pino({ level: 'silent' });

/**
 * TelegramClient's own contract, against the in-process MTProto emulator behind a real mtcute client
 * (its peer storage included): the RPCs it makes and with which options, what the peer cache gives it,
 * how Telegram's errors are classified and retried, and the username miss cache. Waits run on vitest's
 * fake timers, never on the wall clock.
 */

const UPSTREAM: UpstreamSettings = {
  timeoutMs: 4_321,
  connections: 1,
  retry: { maxAttempts: 3, maxTotalWaitMs: 2_000, baseDelayMs: 0 },
  circuit: { failures: 5, coolDownMs: 30_000 },
  planner: { maxHoldMs: 2_000, maxQueuedIds: 10_000 },
};
const FLOOD_WAIT_THRESHOLD_S = 10;

interface Setup {
  client: TelegramClient;
  emulator: TelegramEmulator;
  /** The options of every `call`, in order. */
  callOptions: unknown[];
  logs: ReturnType<typeof captureLogs>;
}

const opened: TelegramClient[] = [];

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(opened.splice(0).map((client) => client.close()));
});

function setup(options: { isBot?: boolean; emulator?: TelegramEmulatorOptions; clock?: ManualClock } = {}): Setup {
  const emulator = new TelegramEmulator(options.emulator);
  const mtcute = createEmulatedTelegramClient(emulator);
  const callOptions: unknown[] = [];
  const rpc: TelegramRpc = {
    call: ((request: never, params?: never) => {
      callOptions.push(params);
      return mtcute.call(request, params);
    }) as TelegramRpc['call'],
    prepare: () => mtcute.prepare(),
    storage: mtcute.storage,
    close: () => mtcute.destroy(),
  };
  const logs = captureLogs('debug');
  const client = telegramClient(rpc, {
    isBot: options.isBot ?? true,
    config: { maxIdsPerCall: 100, floodWaitThresholdSeconds: FLOOD_WAIT_THRESHOLD_S },
    upstream: UPSTREAM,
    logger: logs.logger,
    clock: options.clock,
  });
  opened.push(client);
  return { client, emulator, callOptions, logs };
}

const input = (userId: number, accessHash: Long = demoAccessHash(userId)): tl.TypeInputUser => ({ _: 'inputUser', userId, accessHash });

async function counted(method: string, status: string): Promise<number> {
  const { values } = await upstreamRequests.get();
  return values.find((v) => v.labels.provider === 'telegram' && v.labels.method === method && v.labels.status === status)?.value ?? 0;
}

/** Lets the call under way reach its wait: until a (fake) timer is pending. */
async function untilWaiting(): Promise<void> {
  for (let i = 0; i < 100 && vi.getTimerCount() === 0; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  expect(vi.getTimerCount()).toBe(1);
}

describe('TelegramClient: RPCs', () => {
  it('getUsers: one users.getUsers with the InputUsers given, with mtcute’s own waiting and retrying off', async () => {
    const { client, emulator, callOptions } = setup();
    const before = await counted('users.getUsers', '200');
    const users = await client.getUsers([input(3), input(1), input(999_999)]);
    expect(emulator.rpcs).toEqual([{ method: 'users.getUsers', ids: [3, 1, 999_999], outcome: 'ok' }]);
    expect(callOptions).toEqual([{ floodSleepThreshold: 0, maxRetryCount: 0, timeout: 4_321 }]);
    expect(users.map((u) => u.id).sort()).toEqual([1, 3]); // an unknown user is simply absent
    expect((await counted('users.getUsers', '200')) - before).toBe(1);
  });

  it('resolveUsername: one contacts.resolveUsername, answering the user', async () => {
    const { client, emulator } = setup();
    const user = await client.resolveUsername('tg_user42');
    expect(user).toMatchObject({ _: 'user', id: 42, username: 'tg_user42' });
    expect(emulator.rpcs).toEqual([{ method: 'contacts.resolveUsername', username: 'tg_user42', outcome: 'ok' }]);
  });

  it('resolveUsername: concurrent resolutions of one name, by two requests, share one RPC (through the coalescer)', async () => {
    const { client, emulator } = setup();
    const runtime = new Runtime();
    bindTelegramLookups(client, runtime);
    const [a, b] = await Promise.all(
      [new RequestContext({ runtime: runtime, logger: silent }), new RequestContext({ runtime: runtime, logger: silent })].map((ctx) =>
        ctx.load(telegramUsersByUsername, 'tg_user7'),
      ),
    );
    expect(a!.id).toBe(b!.id);
    expect(emulator.rpcs).toHaveLength(1);
  });

  it('resolveUsername: a name nobody has is undefined, and believed for 10 minutes', async () => {
    const clock = new ManualClock();
    const { client, emulator } = setup({ clock });
    expect(await client.resolveUsername('no_such_user')).toBeUndefined();
    expect(emulator.rpcs.map((r) => r.outcome)).toEqual(['USERNAME_NOT_OCCUPIED']);

    await clock.advance(10 * 60_000 - 1);
    expect(await client.resolveUsername('no_such_user')).toBeUndefined();
    expect(emulator.rpcs).toHaveLength(1); // remembered: no RPC

    await clock.advance(2);
    expect(await client.resolveUsername('no_such_user')).toBeUndefined();
    expect(emulator.rpcs).toHaveLength(2);
  });
});

describe('TelegramClient: the peer cache', () => {
  it('as a bot, names a user it has never seen with access hash 0, and one it has seen with its hash', async () => {
    const { client } = setup({ isBot: true });
    const unseen = await client.inputUser(5);
    expect(unseen).toMatchObject({ _: 'inputUser', userId: 5 });
    expect(unseen?._ === 'inputUser' && unseen.accessHash.isZero()).toBe(true);

    await client.resolveUsername('tg_user5'); // the answer carries the user: mtcute stores it
    const seen = await client.inputUser(5);
    expect(seen?._ === 'inputUser' && seen.accessHash.eq(demoAccessHash(5))).toBe(true);
  });

  it('as a user account, has no way to name a user it has never seen', async () => {
    const { client, emulator } = setup({ isBot: false, emulator: { acceptZeroAccessHash: false } });
    expect(await client.inputUser(5)).toBeUndefined();
    await client.getUsers([input(5)]);
    expect(await client.inputUser(5)).toMatchObject({ _: 'inputUser', userId: 5 });
    expect(emulator.rpcs).toHaveLength(1); // the cache costs no RPC
  });

  it('knows a username once a response carried it, without an RPC', async () => {
    const { client, emulator } = setup();
    expect(await client.cachedIdForUsername('tg_user9')).toBeUndefined();
    await client.getUsers([input(9)]);
    expect(await client.cachedIdForUsername('tg_user9')).toBe(9);
    expect(emulator.rpcs).toHaveLength(1);
  });
});

describe('TelegramClient: errors', () => {
  it('a FLOOD_WAIT within the threshold is waited out, then the RPC is sent again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { client, emulator } = setup();
    emulator.failNext(1, 420, 'FLOOD_WAIT_7');
    const pending = client.getUsers([input(1)]);
    await untilWaiting();
    await vi.advanceTimersByTimeAsync(6_999);
    expect(emulator.rpcs).toHaveLength(1); // not before the 7 s are over
    await vi.advanceTimersByTimeAsync(251); // the wait plus at most 250 ms of jitter
    expect((await pending).map((u) => u.id)).toEqual([1]);
    expect(emulator.rpcs.map((r) => r.outcome)).toEqual(['FLOOD_WAIT_7', 'ok']);
  });

  it('a FLOOD_WAIT over the threshold fails at once with RATE_LIMITED and retryAfter', async () => {
    const { client, emulator } = setup();
    const before = await counted('users.getUsers', '420');
    emulator.failNext(1, 420, 'FLOOD_WAIT_3600');
    const error = await rejection(client.getUsers([input(1)]));
    expect(error).toMatchObject({ code: 'RATE_LIMITED', retryAfter: 3600, provider: TELEGRAM });
    expect(emulator.rpcs).toHaveLength(1);
    expect((await counted('users.getUsers', '420')) - before).toBe(1);
  });

  it('an auth error is UNAUTHENTICATED, and a 400 BAD_USER_INPUT, both at once', async () => {
    const { client, emulator } = setup();
    emulator.failNext(1, 401, 'AUTH_KEY_UNREGISTERED');
    expect((await rejection(client.getUsers([input(1)]))).code).toBe('UNAUTHENTICATED');
    emulator.failNext(1, 400, 'PEER_ID_INVALID');
    expect((await rejection(client.getUsers([input(1)]))).code).toBe('BAD_USER_INPUT');
    expect(emulator.rpcs).toHaveLength(2);
  });

  it('an internal error is retried, up to the policy’s attempts', async () => {
    const { client, emulator } = setup();
    emulator.failNext(1, 500, 'RPC_CALL_FAIL');
    expect(await client.getUsers([input(1)])).toHaveLength(1);
    expect(emulator.rpcs.map((r) => r.outcome)).toEqual(['RPC_CALL_FAIL', 'ok']);

    emulator.reset();
    emulator.failNext(3, -503, 'Timeout');
    expect((await rejection(client.getUsers([input(1)]))).code).toBe('UPSTREAM_UNAVAILABLE');
    expect(emulator.rpcs).toHaveLength(3);
  });

  it('an error names only its code: none of Telegram’s text reaches the caller', async () => {
    const { client, emulator, logs } = setup();
    emulator.failNext(1, 401, 'SESSION_REVOKED');
    const error = await rejection(client.getUsers([input(1)]));
    expect(error.message).toBe("Telegram rejected this subgraph's credentials");
    expect(error.extensions).toEqual({ code: 'UNAUTHENTICATED', provider: 'telegram' });
    expect(JSON.stringify(logs.entries())).toContain('users.getUsers');
  });
});

describe('classifyTelegramError', () => {
  const rpc = (code: number, text: string) => tl.RpcError.fromTl({ errorCode: code, errorMessage: text });

  it('FLOOD_WAIT_X and its relatives are a retryable RATE_LIMITED waiting X seconds', () => {
    expect(classifyTelegramError(rpc(420, 'FLOOD_WAIT_7'))).toEqual({ kind: 'retry', code: 'RATE_LIMITED', waitMs: 7_000 });
    expect(classifyTelegramError(rpc(420, 'SLOWMODE_WAIT_3'))).toEqual({ kind: 'retry', code: 'RATE_LIMITED', waitMs: 3_000 });
    // Ones mtcute does not parse keep their number in the text.
    expect(classifyTelegramError(rpc(420, 'FLOOD_PREMIUM_WAIT_12'))).toEqual({ kind: 'retry', code: 'RATE_LIMITED', waitMs: 12_000 });
    expect(classifyTelegramError(new tl.RpcError(420, 'FLOOD_WAIT_5'))).toEqual({ kind: 'retry', code: 'RATE_LIMITED', waitMs: 5_000 });
  });

  it('a username nobody has is its own outcome', () => {
    expect(classifyTelegramError(rpc(400, 'USERNAME_NOT_OCCUPIED'))).toBe('username-not-found');
    expect(classifyTelegramError(rpc(400, 'USERNAME_INVALID'))).toBe('username-not-found');
  });

  it('any 401, and the session and token errors whatever their code, are a final UNAUTHENTICATED', () => {
    for (const [code, text] of [
      [401, 'AUTH_KEY_UNREGISTERED'],
      [401, 'SOMETHING_NEW'],
      [400, 'ACCESS_TOKEN_INVALID'],
      [403, 'USER_DEACTIVATED_BAN'],
      [406, 'SESSION_REVOKED'],
    ] as const) {
      expect(classifyTelegramError(rpc(code, text)), text).toEqual({ kind: 'fail', code: 'UNAUTHENTICATED' });
    }
  });

  it("mtcute's TIMEOUT (a 400 it makes when an RPC's deadline passes) is a retryable UPSTREAM_UNAVAILABLE", () => {
    expect(classifyTelegramError(rpc(400, 'TIMEOUT'))).toEqual({ kind: 'retry', code: 'UPSTREAM_UNAVAILABLE' });
  });

  it('another 400 is a final BAD_USER_INPUT', () => {
    expect(classifyTelegramError(rpc(400, 'PEER_ID_INVALID'))).toEqual({ kind: 'fail', code: 'BAD_USER_INPUT' });
    expect(classifyTelegramError(rpc(400, 'USER_INVALID'))).toEqual({ kind: 'fail', code: 'BAD_USER_INPUT' });
  });

  it('Telegram’s internal errors and transport failures are a retryable UPSTREAM_UNAVAILABLE', () => {
    for (const error of [
      rpc(500, 'RPC_CALL_FAIL'),
      rpc(-503, 'Timeout'),
      rpc(500, 'No workers running'),
      new Error('socket closed'),
      'x',
    ]) {
      expect(classifyTelegramError(error)).toEqual({ kind: 'retry', code: 'UPSTREAM_UNAVAILABLE' });
    }
  });
});
