import { Cluster } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { RedisLink } from '../redis/link.js';
import { registry } from '../telemetry/metrics.js';
import { deleteKeysUnder, keysUnder, SHARED_REDIS_TOPOLOGY, sharedRedis, uniquePrefix } from '../testing/redis.js';
import type { CacheEntry } from './entry.js';
import { escapeGlob, RedisCache } from './redis-cache.js';

/**
 * The record cache in a real Redis (the run's own, whatever its topology), under a key namespace of this test's
 * own, on an injected wall time (the entries' times are epoch ms; only Redis's own expiry runs on real time).
 */

const T0 = Date.UTC(2025, 0, 1);
let now = T0;
let link: RedisLink;
let ns: string;
let cache: RedisCache;
const admin = sharedRedis();

function record(id: string, fields: string[] = ['a'], freshMs = 1_000, staleMs = 5_000): CacheEntry {
  return { record: { id, name: `User ${id}` }, fields, freshUntil: now + freshMs, staleUntil: now + freshMs + staleMs, at: now };
}

beforeAll(async () => {
  link = new RedisLink({
    topology: SHARED_REDIS_TOPOLOGY,
    prefix: uniquePrefix('redis-cache'),
    commandTimeoutMs: 1_000,
    logger: pino({ level: 'silent' }),
  });
  expect(await link.connect()).toBe(true);
});

beforeEach(() => {
  now = T0;
  ns = link.key('cache', `${Math.random().toString(36).slice(2)}:`);
  cache = new RedisCache(link, ns, () => now);
});

afterEach(async () => {
  vi.restoreAllMocks();
  await deleteKeysUnder(admin, link.prefix);
});

afterAll(async () => {
  await link.close();
  await admin.quit();
});

/** users_subgraph_cache_rejected_entries_total by reason, now. */
async function rejected(): Promise<Record<'place' | 'version' | 'shape', number>> {
  const text = await registry.metrics();
  const of = (reason: string) =>
    Number(new RegExp(`^users_subgraph_cache_rejected_entries_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { place: of('place'), version: of('version'), shape: of('shape') };
}

describe('RedisCache', () => {
  it('stores entries as JSON with a TTL until their stale time, and reads them back in order with one MGET (one per hash slot on a Cluster)', async () => {
    const one = record('1');
    const missing: CacheEntry = { missing: { code: 'NOT_FOUND' }, fields: [], freshUntil: now + 60_000, staleUntil: now + 60_000, at: now };
    await cache.set([
      [`${ns}x|users|||1`, one],
      [`${ns}x|users|||404`, missing],
    ]);
    // Written with its format and its place, which what reads it checks (entry-check.ts).
    expect(JSON.parse((await admin.get(`${ns}x|users|||1`))!)).toEqual({ ...one, v: 1, place: `${ns}x|users|||1` });
    const ttl = await admin.pttl(`${ns}x|users|||1`);
    expect(ttl).toBeGreaterThan(5_000); // 6 s from `now`, less what real time has passed since
    expect(ttl).toBeLessThanOrEqual(6_000);

    const mget = vi.spyOn(link.client, 'mget');
    const keys = [`${ns}x|users|||404`, `${ns}x|users|||2`, `${ns}x|users|||1`];
    expect(await cache.get(keys)).toEqual([{ ...missing, shared: true }, undefined, { ...one, shared: true }]);
    const mgets = link.bySlot(keys).length; // 1; on a Cluster, one per hash slot
    expect(mget).toHaveBeenCalledTimes(mgets);
    expect(await cache.get([])).toEqual([]);
    expect(mget).toHaveBeenCalledTimes(mgets); // nothing to ask
  });

  it('writes nothing for an entry already past its stale time, and reads none that is past it on its clock', async () => {
    await cache.set([[`${ns}k|old`, { ...record('1'), freshUntil: now - 2, staleUntil: now - 1 }]]);
    expect(await admin.exists(`${ns}k|old`)).toBe(0);

    await cache.set([[`${ns}k|1`, record('1')]]);
    now += 6_000; // the entry's stale time, on this process's clock (Redis has not expired it yet)
    expect(await cache.get([`${ns}k|1`])).toEqual([undefined]);
  });

  it('reads a value that is not an entry (another version, a stray write) as none', async () => {
    await admin.set(`${ns}k|garbage`, 'not json', 'PX', 10_000);
    await admin.set(`${ns}k|array`, '[1,2]', 'PX', 10_000);
    expect(await cache.get([`${ns}k|garbage`, `${ns}k|array`])).toEqual([undefined, undefined]);
  });

  it("reads another place's entry copied here, one of another format, or one whose fields are not names, as none, and counts each (issue 20)", async () => {
    await cache.set([[`${ns}x|users|||2`, record('2')]]);
    const two = (await admin.get(`${ns}x|users|||2`))!;
    // Someone with access files user 2 under user 1's place; another version wrote one; a bug wrote fields as a number.
    await admin.set(`${ns}x|users|||1`, two, 'PX', 10_000);
    await admin.set(`${ns}x|users|||3`, JSON.stringify({ ...JSON.parse(two), v: 0, place: `${ns}x|users|||3` }), 'PX', 10_000);
    await admin.set(`${ns}x|users|||4`, JSON.stringify({ ...JSON.parse(two), fields: 5, place: `${ns}x|users|||4` }), 'PX', 10_000);
    const before = await rejected();
    expect(await cache.get([`${ns}x|users|||1`, `${ns}x|users|||3`, `${ns}x|users|||4`, `${ns}x|users|||2`])).toEqual([
      undefined,
      undefined,
      undefined,
      { ...record('2'), shared: true },
    ]);
    expect(await rejected()).toEqual({ place: before.place + 1, version: before.version + 1, shape: before.shape + 1 });
  });

  it('reports a write Redis refuses', async () => {
    // A command of the pipeline fails in Redis (not on the connection): its error is the write's. (Both keys in one
    // hash slot: a Cluster's pipeline keeps to one.)
    await admin.set(`${ns}{k}|string`, 'x', 'PX', 10_000);
    const pipeline = link.client.pipeline.bind(link.client);
    vi.spyOn(link.client, 'pipeline').mockImplementation(() => pipeline().lpush(`${ns}{k}|string`, 'x'));
    await expect(cache.set([[`${ns}{k}|1`, record('1')]])).rejects.toThrow(/WRONGTYPE/);
  });

  describe('evict', () => {
    it("removes a provider's entries, or one key's in every lookup and scope, and resolves how many", async () => {
      await cache.set([
        [`${ns}x|users|||1`, record('1')],
        [`${ns}x|users|scope||1`, record('1')],
        [`${ns}x|tweets|||1`, record('1')],
        [`${ns}x|users|||11`, record('11')],
        [`${ns}nexudus|users|||1`, record('1')],
      ]);
      expect(await cache.evict(`${ns}x|`, '|1')).toBe(3);
      expect((await keysUnder(admin, ns)).sort()).toEqual([`${ns}nexudus|users|||1`, `${ns}x|users|||11`]);
      expect(await cache.evict(ns)).toBe(2);
      expect(await keysUnder(admin, ns)).toEqual([]);
      expect(await cache.evict(ns)).toBe(0);
    });

    it('treats glob characters in the prefix and the suffix as themselves (hostile ids)', async () => {
      const ids = ['*', '?', '[ab]', 'a', 'b', '\\', '\\*', 'x]', 'a|b', 'a:b', '^', ''];
      await cache.set(ids.map((id) => [`${ns}x|users|||${id}`, record(id)] as const));
      const left = () => keysUnder(admin, ns).then((keys) => keys.map((key) => key.slice(`${ns}x|users|||`.length)).sort());

      expect(await cache.evict(`${ns}x|`, '|*')).toBe(1);
      expect(await cache.evict(`${ns}x|`, '|?')).toBe(1);
      expect(await cache.evict(`${ns}x|`, '|[ab]')).toBe(1);
      expect(await left()).toEqual(['', '\\', '\\*', '^', 'a', 'a:b', 'a|b', 'b', 'x]'].sort());
      expect(await cache.evict(`${ns}x|`, '|\\')).toBe(1);
      expect(await cache.evict(`${ns}x|`, '|\\*')).toBe(1);
      expect(await cache.evict(`${ns}x|`, '|x]')).toBe(1);
      expect(await cache.evict(`${ns}x|`, '|a:b')).toBe(1);
      // `|b` ends both `a|b` and `b`'s key: a suffix is literal, not a part.
      expect(await cache.evict(`${ns}x|`, '|b')).toBe(2);
      expect(await left()).toEqual(['', '^', 'a']);

      // A namespace holding glob characters is literal too: `*` in it does not reach a sibling namespace.
      const starred = new RedisCache(link, `${ns}*:`, () => now);
      const sibling = `${ns}other:x|users|||1`;
      await cache.set([[sibling, record('1')]]);
      await starred.set([[`${ns}*:x|users|||1`, record('1')]]);
      expect(await starred.evict(`${ns}*:`)).toBe(1);
      expect(await admin.exists(sibling)).toBe(1);
    });

    it('refuses a prefix outside its namespace: no input reaches the budgets, tokens or other deployments', async () => {
      const outside = link.key('budget', 'x');
      await admin.set(outside, '1', 'PX', 10_000);
      await expect(cache.evict('')).rejects.toThrow(/outside/);
      await expect(cache.evict(link.prefix)).rejects.toThrow(/outside/);
      await expect(cache.evict('*')).rejects.toThrow(/outside/);
      expect(await admin.exists(outside)).toBe(1);
      expect(() => new RedisCache(link, '')).toThrow();
    });

    it('pages through a large cache: 2,500 keys in SCAN pages of 1,000, each page UNLINKed in one round trip', async () => {
      const entries = Array.from({ length: 2_500 }, (_, i) => [`${ns}x|users|||${i}`, record(String(i))] as const);
      await cache.set(entries);
      await cache.set([[`${ns}nexudus|users|||1`, record('1')]]);
      // On a Cluster, each master is scanned and unlinks its own keys, one UNLINK per slot, a page's in one pipeline.
      const unlinked: string[][] = [];
      const pipelines = (link.client instanceof Cluster ? link.client.nodes('master') : [link.client]).map((node) => {
        const pipeline = node.pipeline.bind(node);
        return vi.spyOn(node, 'pipeline').mockImplementation((...args: Parameters<typeof node.pipeline>) => {
          const made = pipeline(...args);
          const unlink = made.unlink.bind(made);
          made.unlink = ((...keys: string[]) => {
            unlinked.push(keys);
            return unlink(...keys);
          }) as typeof made.unlink;
          return made;
        });
      });
      expect(await cache.evict(`${ns}x|`)).toBe(2_500);
      const roundTrips = pipelines.reduce((sum, spy) => sum + spy.mock.calls.length, 0);
      expect(roundTrips).toBeGreaterThanOrEqual(3);
      expect(unlinked.flat()).toHaveLength(2_500);
      expect(unlinked.every((keys) => keys.length <= 1_000 + 100)).toBe(true); // SCAN's COUNT is a hint
      expect(await keysUnder(admin, ns)).toEqual([`${ns}nexudus|users|||1`]);
    });
  });
});

describe('escapeGlob', () => {
  it('escapes exactly * ? [ ] and backslash', () => {
    expect(escapeGlob('a*b?c[d]e\\f|g:h^i-j')).toBe('a\\*b\\?c\\[d\\]e\\\\f|g:h^i-j');
  });
});
