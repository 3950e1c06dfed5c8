import { type BaseTelegramClient, Long, tl } from '@mtcute/node';
import { afterEach, describe, expect, it } from 'vitest';
import { demoAccessHash, demoTelegramUser, demoUserIdForUsername, TELEGRAM_DEMO_MAX_ID, TELEGRAM_DEMO_SELF_ID } from './demo-data.js';
import { createEmulatedTelegramClient, TelegramEmulator, type TelegramEmulatorOptions } from './server.js';

const input = (userId: number, accessHash: Long = demoAccessHash(userId)): tl.RawInputUser => ({ _: 'inputUser', userId, accessHash });

/** `users.getUsers` straight on the emulator, typed. */
async function getUsers(emulator: TelegramEmulator, id: tl.TypeInputUser[]): Promise<tl.TypeUser[]> {
  return (await emulator.respond({ _: 'users.getUsers', id })) as tl.TypeUser[];
}
async function resolve(emulator: TelegramEmulator, username: string): Promise<tl.contacts.RawResolvedPeer> {
  return (await emulator.respond({ _: 'contacts.resolveUsername', username })) as tl.contacts.RawResolvedPeer;
}
const ids = (users: tl.TypeUser[]) => users.map((u) => u.id);
const asUser = (u: tl.TypeUser | undefined): tl.RawUser => {
  if (u?._ !== 'user') throw new Error(`expected a user, got ${JSON.stringify(u)}`);
  return u;
};

/** Resolves to the RpcError a promise rejects with (fails the test if it resolves). */
async function rpcError(promise: Promise<unknown>): Promise<tl.RpcError> {
  const error: unknown = await promise.then(
    (value) => {
      throw new Error(`expected an RpcError, got ${JSON.stringify(value)}`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(tl.RpcError);
  return error as tl.RpcError;
}

describe('users.getUsers', () => {
  const emu = (options?: TelegramEmulatorOptions) => new TelegramEmulator(options);

  it('answers known ids with the right access hash, as full user objects', async () => {
    const [u] = await getUsers(emu(), [input(5)]);
    const user = asUser(u);
    expect(user).toMatchObject({ id: 5, firstName: 'Demo', lastName: 'User 5', username: 'tg_user5', premium: true, bot: false });
    expect(user.accessHash!.eq(demoAccessHash(5))).toBe(true);
  });

  it('omits a wrong hash and unknown ids; hash 0 works only when acceptZeroAccessHash', async () => {
    const wrong = Long.fromInt(12345);
    expect(await getUsers(emu(), [input(6, wrong), input(0), input(TELEGRAM_DEMO_MAX_ID + 1), input(-3)])).toEqual([]);
    expect(ids(await getUsers(emu({ maxKnownId: 50 }), [input(50), input(51)]))).toEqual([50]);

    expect(ids(await getUsers(emu(), [input(7, Long.ZERO)]))).toEqual([7]);
    expect(await getUsers(emu({ acceptZeroAccessHash: false }), [input(7, Long.ZERO)])).toEqual([]);
    expect(ids(await getUsers(emu({ acceptZeroAccessHash: false }), [input(7)]))).toEqual([7]);
  });

  it('answers userEmpty for emptyIds, inputUserSelf with the bot itself, and omits other InputUser kinds', async () => {
    const users = await getUsers(emu({ emptyIds: [9] }), [
      input(9),
      { _: 'inputUserSelf' },
      { _: 'inputUserEmpty' },
      { _: 'inputUserFromMessage', peer: { _: 'inputPeerSelf' }, msgId: 1, userId: 10 },
    ]);
    expect(users).toHaveLength(2);
    expect(users).toContainEqual({ _: 'userEmpty', id: 9 });
    expect(asUser(users.find((u) => u.id === TELEGRAM_DEMO_SELF_ID))).toMatchObject({ self: true, bot: true, username: 'demo_bot' });
  });

  it('answers in reverse request order, each user once', async () => {
    const users = await getUsers(emu(), [input(1), input(2), input(3), input(2), input(1, Long.ZERO), input(4)]);
    expect(ids(users)).toEqual([4, 3, 2, 1]);
  });

  it('an empty vector is []; more than 200 InputUsers is LIMIT_INVALID', async () => {
    expect(await getUsers(emu(), [])).toEqual([]);
    const all = Array.from({ length: 200 }, (_, i) => input(i + 1));
    expect(await getUsers(emu(), all)).toHaveLength(200);
    const error = await rpcError(getUsers(emu(), [...all, input(201)]));
    expect([error.code, error.text]).toEqual([400, 'LIMIT_INVALID']);
  });

  it('returns fresh objects: mutating an answer changes nothing later', async () => {
    const e = emu();
    const first = asUser((await getUsers(e, [input(11)]))[0]);
    first.firstName = 'Mallory';
    first.usernames?.push({ _: 'username', username: 'x' });
    expect(asUser((await getUsers(e, [input(11)]))[0]).firstName).toBe('Demo');
  });

  it('answers a deleted account with its id, hash and flag only', async () => {
    const user = asUser((await getUsers(emu(), [input(999)]))[0]);
    expect(user).toMatchObject({
      id: 999,
      deleted: true,
      firstName: undefined,
      lastName: undefined,
      username: undefined,
      phone: undefined,
      photo: undefined,
    });
    expect(user.accessHash!.eq(demoAccessHash(999))).toBe(true);
  });
});

describe('contacts.resolveUsername', () => {
  it('resolves a username (case-insensitively) and a collectible to the user', async () => {
    const e = new TelegramEmulator();
    const hit = await resolve(e, 'tg_user42');
    expect(hit).toMatchObject({ _: 'contacts.resolvedPeer', peer: { _: 'peerUser', userId: 42 }, chats: [] });
    expect(hit.users.map((u) => u.id)).toEqual([42]);
    expect((await resolve(e, 'TG_User42')).peer).toEqual({ _: 'peerUser', userId: 42 });
    expect((await resolve(e, 'tg_vip25')).peer).toEqual({ _: 'peerUser', userId: 25 });
  });

  it('USERNAME_NOT_OCCUPIED for nobody (unknown, past maxKnownId, deleted, no collectible); USERNAME_INVALID for bad formats', async () => {
    const e = new TelegramEmulator({ maxKnownId: 1000 });
    for (const name of ['nobody_here', 'tg_user1001', 'tg_user999', 'tg_vip26']) {
      const error = await rpcError(resolve(e, name));
      expect([name, error.code, error.text]).toEqual([name, 400, 'USERNAME_NOT_OCCUPIED']);
    }
    for (const name of ['abc', '1user', '@tg_user5', 'tg-user5', 'a'.repeat(33)]) {
      const error = await rpcError(resolve(e, name));
      expect([name, error.code, error.text]).toEqual([name, 400, 'USERNAME_INVALID']);
    }
  });
});

describe('faults and recording', () => {
  it('failNext(1, 420, FLOOD_WAIT_7) fails the next RPC only; every RPC is recorded', async () => {
    const e = new TelegramEmulator();
    e.failNext(1, 420, 'FLOOD_WAIT_7');
    const error = await rpcError(getUsers(e, [input(1)]));
    expect([error.code, error.text]).toEqual([420, 'FLOOD_WAIT_7']);
    expect(ids(await getUsers(e, [input(1), { _: 'inputUserSelf' }]))).toEqual([TELEGRAM_DEMO_SELF_ID, 1]);
    await rpcError(resolve(e, 'nobody_here'));
    await rpcError(e.respond({ _: 'help.getConfig' }));
    expect(e.rpcs).toEqual([
      { method: 'users.getUsers', ids: [1], outcome: 'FLOOD_WAIT_7' },
      { method: 'users.getUsers', ids: [1, TELEGRAM_DEMO_SELF_ID], outcome: 'ok' },
      { method: 'contacts.resolveUsername', username: 'nobody_here', outcome: 'USERNAME_NOT_OCCUPIED' },
      { method: 'help.getConfig', outcome: 'INPUT_METHOD_INVALID' },
    ]);
  });

  it('reset() clears the record and pending faults', async () => {
    const e = new TelegramEmulator();
    e.failNext(2, 500, 'RPC_CALL_FAIL');
    await rpcError(getUsers(e, [input(1)]));
    e.reset();
    expect(e.rpcs).toEqual([]);
    expect(ids(await getUsers(e, [input(1)]))).toEqual([1]);
  });

  it('a slow fault answers late; a caller whose timeout passes first gets 400 TIMEOUT, as from mtcute', async () => {
    const e = new TelegramEmulator();
    e.failNext(1, { kind: 'slow', ms: 10_000 });
    const error = await rpcError(e.respond({ _: 'users.getUsers', id: [input(1)] }, { timeoutMs: 20 }));
    expect([error.code, error.text]).toEqual([400, 'TIMEOUT']);
    e.failNext(1, { kind: 'slow', ms: 20 });
    expect(ids((await e.respond({ _: 'users.getUsers', id: [input(2)] }, { timeoutMs: 5_000 })) as tl.TypeUser[])).toEqual([2]);
    expect(e.rpcs).toEqual([
      { method: 'users.getUsers', ids: [1], outcome: 'TIMEOUT' },
      { method: 'users.getUsers', ids: [2], outcome: 'ok' },
    ]);
  });

  it("a caller's abort ends the wait with the signal's reason", async () => {
    const e = new TelegramEmulator({ latencyMs: 10_000 });
    const controller = new AbortController();
    const pending = e.respond({ _: 'users.getUsers', id: [input(1)] }, { signal: controller.signal });
    const reason = new Error('caller gone');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(e.rpcs).toEqual([{ method: 'users.getUsers', ids: [1], outcome: 'aborted' }]);
  });

  it('waits latencyMs before answering', async () => {
    const e = new TelegramEmulator({ latencyMs: 40 });
    const started = performance.now();
    await getUsers(e, [input(1)]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(35);
  });
});

describe('createEmulatedTelegramClient', () => {
  let client: BaseTelegramClient | undefined;
  afterEach(async () => {
    await client?.destroy();
    client = undefined;
  });

  it('stores the peers of every answer in mtcute storage, hash and usernames included', async () => {
    const emulator = new TelegramEmulator();
    client = createEmulatedTelegramClient(emulator);
    expect(await client.storage.peers.getById(5)).toBeNull();

    const users = await client.call({ _: 'users.getUsers', id: [input(5, Long.ZERO), input(25)] });
    expect(users.map((u) => u.id).sort()).toEqual([25, 5]);
    const peer = await client.storage.peers.getById(5);
    expect(peer).toMatchObject({ _: 'inputPeerUser', userId: 5 });
    expect(peer?._ === 'inputPeerUser' && peer.accessHash.eq(demoAccessHash(5))).toBe(true);
    expect(await client.storage.peers.getByUsername('tg_user5')).toMatchObject({ _: 'inputPeerUser', userId: 5 });
    expect(await client.storage.peers.getByUsername('TG_VIP25')).toMatchObject({ _: 'inputPeerUser', userId: 25 });

    await client.call({ _: 'contacts.resolveUsername', username: 'tg_user77' });
    expect(await client.storage.peers.getById(77)).toMatchObject({ _: 'inputPeerUser', userId: 77 });
    expect(emulator.rpcs.map((r) => r.method)).toEqual(['users.getUsers', 'contacts.resolveUsername']);
  });

  it('throws errors as mtcute does: a tl.RpcError with FLOOD_WAIT parsed into seconds', async () => {
    const emulator = new TelegramEmulator();
    client = createEmulatedTelegramClient(emulator);
    emulator.failNext(1, 420, 'FLOOD_WAIT_7');
    const flood = await rpcError(client.call({ _: 'users.getUsers', id: [input(1)] }));
    expect(flood.code).toBe(420);
    expect(flood.is('FLOOD_WAIT_%d') && flood.seconds).toBe(7);
    expect(emulator.rpcs.map((r) => r.outcome)).toEqual(['FLOOD_WAIT_7']);
    const missing = await rpcError(client.call({ _: 'contacts.resolveUsername', username: 'nobody_here' }));
    expect([missing.code, missing.text]).toEqual([400, 'USERNAME_NOT_OCCUPIED']);
    expect((await client.call({ _: 'users.getUsers', id: [input(1)] })).map((u) => u.id)).toEqual([1]);
  });

  it('honours `timeout` as mtcute does: a slower answer fails the call with RpcError(400, TIMEOUT)', async () => {
    const emulator = new TelegramEmulator();
    client = createEmulatedTelegramClient(emulator);
    emulator.failNext(1, { kind: 'slow', ms: 10_000 });
    const timedOut = await rpcError(client.call({ _: 'users.getUsers', id: [input(1)] }, { timeout: 20 }));
    expect([timedOut.code, timedOut.text]).toEqual([400, 'TIMEOUT']);
    expect((await client.call({ _: 'users.getUsers', id: [input(1)] }, { timeout: 5_000 })).map((u) => u.id)).toEqual([1]);
  });

  it('refuses calls once destroyed', async () => {
    const c = createEmulatedTelegramClient(new TelegramEmulator());
    await c.destroy();
    await expect(c.call({ _: 'users.getUsers', id: [] })).rejects.toThrow('Client is destroyed');
  });
});

describe('demo data', () => {
  const all = Array.from({ length: TELEGRAM_DEMO_MAX_ID }, (_, i) => i + 1);

  it('is deterministic', () => {
    for (const id of [1, 25, 48, 777, 999, 9999, TELEGRAM_DEMO_MAX_ID]) {
      const a = demoTelegramUser(id);
      const b = demoTelegramUser(id);
      expect(a).toEqual(b);
      expect(a).not.toBe(b);
      expect(demoAccessHash(id).toString()).toBe(demoAccessHash(id).toString());
    }
    // Pinned values: a change to the generator shows up here.
    expect(demoAccessHash(1).isZero()).toBe(false);
    expect(demoTelegramUser(60).status).toEqual({ _: 'userStatusOnline', expires: Date.UTC(2026, 10, 1) / 1000 + 3600 + 300 });
  });

  it('every live user has valid usernames that map back to it; hashes are never zero', () => {
    const hashes = new Set<string>();
    for (const id of all) {
      const user = demoTelegramUser(id);
      expect(user.accessHash!.isZero()).toBe(false);
      hashes.add(user.accessHash!.toString());
      const names = [user.username, ...(user.usernames ?? []).map((u) => u.username)].filter((n) => n !== undefined);
      if (user.deleted) {
        expect(names).toEqual([]);
        continue;
      }
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) {
        if (!/^[A-Za-z][A-Za-z0-9_]{4,31}$/.test(name)) throw new Error(`invalid username ${name} for ${id}`);
        if (demoUserIdForUsername(name.toUpperCase()) !== id) throw new Error(`${name} does not map back to ${id}`);
      }
    }
    expect(hashes.size).toBe(all.length);
    expect(demoUserIdForUsername('tg_user0')).toBeUndefined();
    expect(demoUserIdForUsername('tg_user007')).toBeUndefined();
    expect(demoUserIdForUsername(`tg_user${TELEGRAM_DEMO_MAX_ID + 1}`)).toBeUndefined();
    expect(demoUserIdForUsername('tg_user50', 49)).toBeUndefined();
  });

  it('traits follow the documented ids', () => {
    const count = (pred: (u: tl.RawUser) => boolean) => all.filter((id) => pred(demoTelegramUser(id))).length;
    expect(demoTelegramUser(7).lastName).toBeUndefined();
    expect(demoTelegramUser(48)).toMatchObject({ phone: '9990000048', photo: { _: 'userProfilePhotoEmpty' } });
    expect(demoTelegramUser(40).photo).toEqual({ _: 'userProfilePhotoEmpty' });
    expect(demoTelegramUser(120).photo).toEqual({ _: 'userProfilePhotoEmpty' });
    expect(demoTelegramUser(25).photo).toMatchObject({ _: 'userProfilePhoto', dcId: 2 });
    expect(demoTelegramUser(25).usernames?.map((u) => [u.username, u.active === true])).toEqual([
      ['tg_user25', true],
      ['tg_vip25', true],
    ]);
    expect(demoTelegramUser(777).support).toBe(true);
    expect(demoTelegramUser(499)).toMatchObject({ restricted: true, restrictionReason: [expect.objectContaining({ reason: 'terms' })] });
    expect(new Set([60, 61, 62, 63, 64, 65].map((id) => demoTelegramUser(id).status?._)).size).toBe(6);
    expect([1, 2, 3, 4].map((id) => demoTelegramUser(id).langCode)).toEqual(['de', 'ru', 'es', 'en']);
    expect(count((u) => u.bot === true)).toBe(TELEGRAM_DEMO_MAX_ID / 50);
    expect(count((u) => u.deleted === true)).toBe(10);
    expect(count((u) => u.scam === true)).toBe(10);
    expect(count((u) => u.fake === true)).toBe(10);
  });

  it('video avatars exist (every 40th id, offset so that the user has a photo)', () => {
    const withVideo = all.filter((id) => {
      const photo = demoTelegramUser(id).photo;
      return photo?._ === 'userProfilePhoto' && photo.hasVideo === true;
    });
    expect(withVideo.slice(0, 3)).toEqual([10, 50, 90]);
    expect(withVideo).toHaveLength(TELEGRAM_DEMO_MAX_ID / 40);
  });
});
