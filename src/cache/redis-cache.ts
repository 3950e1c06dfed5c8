import { Cluster } from 'ioredis';
import type { RedisLink } from '../redis/link.js';
import { cacheRejectedEntries } from '../telemetry/metrics.js';
import type { CacheEntry } from './entry.js';
import { checkEntry, ENTRY_VERSION } from './entry-check.js';
import type { RecordCache } from './record-cache.js';

/**
 * The record cache in Redis, shared by every replica: what one replica fetched, the others answer
 * without asking the upstream. One key per entry, as the lookup service built it, holding the entry's
 * JSON and expiring at its `staleUntil` (`PX`).
 *
 * Memory: nothing here bounds it. Redis does, with its `maxmemory` and an eviction policy that may
 * drop these keys (`allkeys-lru`, or `volatile-ttl`: every key here has a TTL); under `noeviction` a
 * full Redis refuses writes, which `set` reports and the caller survives (docs/sharing.md, "Sharing upstream calls").
 *
 * Failures (Redis down, a command timing out) reject: `RedisOrMemoryCache` turns them into its memory
 * path, so no request sees them.
 */
export class RedisCache implements RecordCache {
  constructor(
    private readonly link: RedisLink,
    /**
     * Where this cache's keys live (the lookup service's key prefix, e.g. `users-subgraph:cache:`):
     * `evict` removes nothing outside it, so that no input can reach other deployments' keys, or the
     * budgets and tokens beside them.
     */
    private readonly namespace: string,
    private readonly now: () => number = Date.now,
  ) {
    if (namespace === '') throw new Error('RedisCache needs a key namespace of its own');
  }

  /**
   * One MGET for all `keys` (on a Cluster, one per hash slot, sent together: records are spread over
   * the slots on purpose); an entry that is not JSON of an entry, or past its stale time, is none.
   */
  async get(keys: readonly string[]): Promise<Array<CacheEntry | undefined>> {
    if (keys.length === 0) return [];
    const values = await this.link.mget(this.link.client, keys);
    const now = this.now();
    return values.map((value, i) => {
      const entry = value === null ? undefined : parse(value, keys[i]!);
      return entry !== undefined && entry.staleUntil > now ? entry : undefined;
    });
  }

  /**
   * One pipeline of `SET key json PX <ms until staleUntil>` (on a Cluster, one per hash slot: a pipeline
   * there keeps to one slot); an entry already past it is not written.
   */
  async set(entries: ReadonlyArray<readonly [string, CacheEntry]>): Promise<void> {
    const now = this.now();
    const keys: string[] = [];
    const writes: Array<[json: string, ttlMs: number]> = [];
    for (const [key, entry] of entries) {
      const ttlMs = Math.ceil(entry.staleUntil - now);
      if (!(ttlMs > 0)) continue;
      // Written with its format, its place and when: what reads it checks all three (`entry-check.ts`).
      const { shared: _shared, ...written } = entry;
      keys.push(key);
      writes.push([JSON.stringify({ ...written, v: ENTRY_VERSION, place: key, at: entry.at ?? now }), ttlMs]);
    }
    if (keys.length === 0) return;
    await Promise.all(
      this.link.slotGroups(keys).map(async (group) => {
        const pipeline = this.link.client.pipeline();
        for (const i of group) pipeline.set(keys[i]!, writes[i]![0], 'PX', writes[i]![1]);
        const results = await pipeline.exec();
        const failure = results?.find(([error]) => error !== null)?.[0];
        if (failure) throw failure;
      }),
    );
  }

  /**
   * Removes the keys that start with `prefix` and end with `suffix`, both literal (glob characters in
   * them match only themselves): SCAN … MATCH … COUNT 1000, UNLINK per page. Resolves how many went.
   * A prefix outside this cache's namespace is refused.
   */
  async evict(prefix: string, suffix = ''): Promise<number> {
    if (!prefix.startsWith(this.namespace)) throw new Error('evict: prefix outside the record cache namespace');
    const match = `${escapeGlob(prefix)}*${escapeGlob(suffix)}`;
    // A Cluster's keys are spread over its masters: each is scanned, and its keys unlinked slot by slot.
    const client = this.link.client;
    const nodes = client instanceof Cluster ? client.nodes('master') : [client];
    let removed = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
        cursor = next;
        // MATCH is applied by Redis; checked again here so that no pattern subtlety can widen it.
        const mine = keys.filter((key) => key.startsWith(prefix) && key.endsWith(suffix) && key.length >= prefix.length + suffix.length);
        if (mine.length === 0) continue;
        // One UNLINK per slot (a Cluster refuses one across slots), a page's all in one round trip: one at a
        // time, 2,500 keys took 255 ms on loopback (one node: 14 ms), minutes over a real network.
        const pipeline = node.pipeline();
        for (const group of this.link.bySlot(mine)) pipeline.unlink(...group);
        for (const [error, count] of (await pipeline.exec()) ?? []) {
          if (error) throw error;
          removed += Number(count);
        }
      } while (cursor !== '0');
    }
    return removed;
  }
}

/** Keys SCAN looks at per call: pages large enough that evicting from a big cache takes few round trips. */
const SCAN_COUNT = 1000;

/** `text` as a literal in a Redis glob pattern: `*`, `?`, `[`, `]` and `\` each escaped with `\`. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** The entry `value` holds for `place`; undefined (a miss, counted) for anything else. */
function parse(value: string, place: string): CacheEntry | undefined {
  let stored: unknown;
  try {
    stored = JSON.parse(value);
  } catch {
    cacheRejectedEntries.inc({ reason: 'shape' });
    return undefined;
  }
  const entry = checkEntry(stored, place);
  if (typeof entry !== 'string') {
    // The format and the place were for this check; when it was written stays, for freshness.
    const { v: _v, place: _place, ...kept } = entry;
    return { ...kept, shared: true };
  }
  cacheRejectedEntries.inc({ reason: entry });
  return undefined;
}
