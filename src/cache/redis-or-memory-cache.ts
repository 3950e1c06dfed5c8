import type { Logger } from 'pino';
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
 */
export class RedisOrMemoryCache implements RecordCache {
  constructor(
    private readonly link: RedisLink,
    private readonly redis: RecordCache,
    private readonly memory: MemoryCache,
    private readonly logger: Logger,
  ) {}

  async get(keys: readonly string[]): Promise<Array<CacheEntry | undefined>> {
    if (!this.link.up) return this.memory.getNow(keys);
    let shared: Array<CacheEntry | undefined>;
    try {
      shared = await this.redis.get(keys);
    } catch (error) {
      this.failed('get', error);
      return this.memory.getNow(keys);
    }
    const absent = keys.filter((_, i) => shared[i] === undefined);
    if (absent.length === 0 || this.memory.size.entries === 0) return shared;
    const local = this.memory.getNow(absent);
    let next = 0;
    return shared.map((entry) => entry ?? local[next++]);
  }

  async set(entries: ReadonlyArray<readonly [string, CacheEntry]>): Promise<void> {
    if (this.link.up) {
      try {
        await this.redis.set(entries);
        return;
      } catch (error) {
        this.failed('set', error);
      }
    }
    await this.memory.set(entries);
  }

  async evict(prefix: string, suffix = ''): Promise<number> {
    const fromMemory = await this.memory.evict(prefix, suffix);
    if (!this.link.up) throw new Error(`Redis unreachable: ${fromMemory} cache entries evicted from this process only`);
    try {
      return fromMemory + (await this.redis.evict(prefix, suffix));
    } catch (error) {
      this.failed('evict', error);
      throw new Error(`Redis failed: ${fromMemory} cache entries evicted from this process only`);
    }
  }

  /** A failed command: the link learns of a timeout (it then counts Redis as lost until it answers). */
  private failed(operation: string, error: unknown): void {
    this.link.commandFailed(error);
    this.logger.debug({ operation, reason: error instanceof Error ? error.name : 'unknown' }, 'record cache: Redis failed, using memory');
  }
}
