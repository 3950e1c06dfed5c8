import type { CacheEntry } from './entry.js';

/**
 * Where cached answers live: this process's memory (an LRU bounded in bytes), or Redis, shared by every
 * replica. Keys are built by the lookup service (provider, lookup, credential scope, partition, key);
 * a store only keeps them.
 */
export interface RecordCache {
  /** The entries of `keys`, in order; `undefined` where there is none (or it is past its stale time). */
  get(keys: readonly string[]): Promise<Array<CacheEntry | undefined>>;
  /** Stores entries; each is kept until its `staleUntil`. */
  set(entries: ReadonlyArray<readonly [string, CacheEntry]>): Promise<void>;
  /** Removes the entries whose key starts with `prefix` ('' for all) and ends with `suffix`; resolves how many. */
  evict(prefix: string, suffix?: string): Promise<number>;
}
