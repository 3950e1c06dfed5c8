import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisLink } from '../redis/link.js';
import { captureLogs } from '../testing/log-capture.js';
import { deleteKeysUnder, freePort, keysUnder, SHARED_REDIS_TOPOLOGY, sharedRedis, uniquePrefix } from '../testing/redis.js';
import { Sealer } from './sealed.js';
import { RedisTokenStore, type RedisTokenStoreOptions } from './token-store.js';

/**
 * RedisTokenStore against a real Redis (the run's shared one, whatever its topology): what lands there is sealed,
 * what comes back is checked, the lock is the holder's.
 */

const prefix = uniquePrefix('token-store');
const SECRET = 'cl1ent-s3cret-XYZ';
const TOKEN = 'acc3ss-T0KEN-abcdef';
const REFRESH = 'refr3sh-T0KEN-123456';
let link: RedisLink;
let raw: Redis | Cluster;
let accounts = 0;

beforeAll(async () => {
  link = new RedisLink({ topology: SHARED_REDIS_TOPOLOGY, prefix, commandTimeoutMs: 2_000, logger: captureLogs('silent').logger });
  expect(await link.connect()).toBe(true);
  raw = sharedRedis();
});

afterAll(async () => {
  await deleteKeysUnder(raw, prefix);
  raw.disconnect();
  await link.close();
});

function store(options: Partial<RedisTokenStoreOptions> = {}): RedisTokenStore {
  return new RedisTokenStore({ link, account: `acct-${++accounts}`, secret: SECRET, purpose: 'acme test', ttlMs: 60_000, ...options });
}

describe('RedisTokenStore', () => {
  it('keeps the token and refresh token sealed: the raw value holds neither, and reads back as written', async () => {
    const s = store();
    expect(await s.read()).toBeUndefined();
    await s.write({ gen: 1, token: TOKEN, refreshToken: REFRESH, renewAt: 1_700_000_000_000 });
    const keys = await keysUnder(raw, prefix);
    expect(keys).toEqual([link.key('token', `{acct-${accounts}}`)]);
    const value = (await raw.get(keys[0]!))!;
    expect(value.startsWith('v1.')).toBe(true);
    for (const secret of [TOKEN, REFRESH, 'acc3ss', 'refr3sh', SECRET]) expect(value).not.toContain(secret);
    expect(await raw.pttl(keys[0]!)).toBeGreaterThan(50_000);
    expect(await s.read()).toEqual({ gen: 1, token: TOKEN, refreshToken: REFRESH, renewAt: 1_700_000_000_000 });
  });

  it('reads as absent what it cannot trust: another secret, a value moved from another account, tampering, garbage', async () => {
    const account = `acct-${++accounts}`;
    const mine = store({ account });
    await mine.write({ gen: 1, token: TOKEN });
    expect(await store({ account, secret: 'rotated-secret' }).read()).toBeUndefined();

    const other = store();
    await raw.set(link.key('token', `{acct-${accounts}}`), (await raw.get(link.key('token', `{${account}}`)))!);
    expect(await other.read()).toBeUndefined(); // sealed for its own key only

    const key = link.key('token', `{${account}}`);
    const value = (await raw.get(key))!;
    await raw.set(key, `${value.slice(0, -2)}AA`);
    expect(await mine.read()).toBeUndefined();
    for (const garbage of ['', 'null', '{"gen":1,"token":"x"}', 'x'.repeat(100_000)]) {
      await raw.set(key, garbage);
      expect(await mine.read()).toBeUndefined();
    }
  });

  it('reads as absent a sealed record of the wrong shape, or whose token could not be sent as it is (a header break)', async () => {
    const account = `acct-${++accounts}`;
    const key = link.key('token', `{${account}}`);
    const sealer = new Sealer(SECRET, 'users-subgraph token acme test');
    const s = store({ account });
    for (const record of [
      { gen: 1, token: 'abc\r\nx-forwarded-host: evil.example' },
      { gen: 0, token: TOKEN },
      { gen: 1, token: TOKEN, renewAt: 'soon' },
      { gen: 1, token: TOKEN, url: 'https://evil.example/' },
      [TOKEN],
    ]) {
      await raw.set(key, sealer.seal(JSON.stringify(record), key));
      expect(await s.read()).toBeUndefined();
    }
    await raw.set(key, sealer.seal(JSON.stringify({ gen: 2, token: TOKEN }), key));
    expect(await s.read()).toEqual({ gen: 2, token: TOKEN }); // the same sealer, a good record: read
    await expect(s.write({ gen: 3, token: 'a\nb' })).rejects.toThrow();
  });

  it('the lock is held by one at a time, and giving it back never frees a lock someone else took since', async () => {
    const account = `acct-${++accounts}`;
    const a = store({ account });
    const b = store({ account });
    const unlockA = await a.lock(60_000);
    expect(unlockA).toBeDefined();
    expect(await b.lock(60_000)).toBeUndefined();
    await unlockA!();
    const unlockB = await b.lock(60_000);
    expect(unlockB).toBeDefined();
    await unlockA!(); // A's lock is long gone: B's stays
    expect(await a.lock(60_000)).toBeUndefined();
    await unlockB!();
    const lockKey = link.key('token', `{${account}}`, 'renewing');
    expect(await raw.exists(lockKey)).toBe(0);

    // A lock whose holder died expires by itself.
    expect(await a.lock(50)).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 120));
    const after = await b.lock(60_000);
    expect(after).toBeDefined();
    await after!();
  });

  it('a store is available as soon as its link connected', async () => {
    const fresh = new RedisLink({ topology: SHARED_REDIS_TOPOLOGY, prefix, commandTimeoutMs: 2_000, logger: captureLogs('silent').logger });
    try {
      expect(await fresh.connect()).toBe(true);
      const s = new RedisTokenStore({ link: fresh, account: `acct-${++accounts}`, secret: SECRET, purpose: 'acme test', ttlMs: 60_000 });
      expect(s.available).toBe(true);
      expect(await s.read()).toBeUndefined();
    } finally {
      await fresh.close();
    }
  });

  it('throws when Redis cannot be reached, and says it is not available', async () => {
    const dead = new RedisLink({
      url: `redis://127.0.0.1:${await freePort()}`,
      prefix,
      commandTimeoutMs: 100,
      logger: captureLogs('silent').logger,
    });
    try {
      const s = new RedisTokenStore({ link: dead, account: 'nowhere', secret: SECRET, purpose: 'acme test', ttlMs: 60_000 });
      expect(s.available).toBe(false);
      await expect(s.read()).rejects.toThrow();
      await expect(s.lock(1_000)).rejects.toThrow();
    } finally {
      await dead.close();
    }
  });
});
