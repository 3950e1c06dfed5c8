import type { RedisLink } from '../redis/link.js';
import type { CacheEntry } from './entry.js';
import type { MemoryCache } from './memory-cache.js';
import type { RecordCache } from './record-cache.js';

/**
 * The record cache with `REDIS_URL` set: Redis (shared by every replica) while the link is up, this
 * process's memory while it is not, or when a command fails. A call that fails on Redis is answered
 * from memory there and then: no request sees Redis's loss, it only asks the upstream more.
 *
 * - `get` reads Redis, and looks in memory for what Redis does not have: what this process fetched
 *   alone during an outage still answers once Redis is back (until it expires or the LRU drops it).
 * - `set` writes Redis, or memory when Redis cannot take it.
 * - `evict` removes from both. It rejects when Redis could not be reached (the memory part is done
 *   then): an administrator must know that replicas may still serve the entries.
 * Which of the two answers is the link's decision (`RedisLink.orLocal`).
 */
export class RedisOrMemoryCache implements RecordCache {
  constructor(
    private readonly link: RedisLink,
    private readonly redis: RecordCache,
    private readonly memory: MemoryCache,
  ) {}

  get(keys: readonly string[]): Promise<Array<CacheEntry | undefined>> {
    return this.link.orLocal(
      'record-cache',
      async () => {
        const shared = await this.redis.get(keys);
        const absent = keys.filter((_, i) => shared[i] === undefined);
        if (absent.length === 0 || this.memory.size.entries === 0) return shared;
        const local = this.memory.getNow(absent);
        let next = 0;
        return shared.map((entry) => entry ?? local[next++]);
      },
      () => this.memory.getNow(keys),
    );
  }

  set(entries: ReadonlyArray<readonly [string, CacheEntry]>): Promise<void> {
    return this.link.orLocal(
      'record-cache',
      () => this.redis.set(entries),
      () => this.memory.set(entries),
    );
  }

  async evict(prefix: string, suffix = ''): Promise<number> {
    const fromMemory = await this.memory.evict(prefix, suffix);
    return this.link.orLocal(
      'record-cache',
      async () => fromMemory + (await this.redis.evict(prefix, suffix)),
      () => {
        throw new RedisNotReached(fromMemory);
      },
      // A SCAN of the whole cache, page by page: seconds on a large one, not one command's time.
      EVICT_TIMEOUT_MS,
    );
  }
}

/** The longest an eviction's SCAN and UNLINKs may take in all (ms). */
const EVICT_TIMEOUT_MS = 30_000;

/** An eviction that could reach only this process's memory: the other replicas still hold the entries. */
export class RedisNotReached extends Error {
  constructor(readonly evictedHere: number) {
    super(`Redis not reached: ${evictedHere} cache entries evicted from this process only`);
  }
}
