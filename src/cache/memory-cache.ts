import type { CacheEntry } from './entry.js';
import type { RecordCache } from './record-cache.js';

/**
 * The record cache in this process's memory: least recently used entries leave first once the entries'
 * total size passes `maxBytes`. An entry's size is its JSON length, counted once when it is stored;
 * entries are kept as objects, so a hit costs no parsing.
 */
export class MemoryCache implements RecordCache {
  /** Insertion order is recency order: a hit moves the key to the end. */
  private readonly entries = new Map<string, { entry: CacheEntry; size: number }>();
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  async get(keys: readonly string[]): Promise<Array<CacheEntry | undefined>> {
    return this.getNow(keys);
  }

  /** `get` without a promise: what a caller on the hot path uses when it knows the cache is in memory. */
  getNow(keys: readonly string[]): Array<CacheEntry | undefined> {
    const now = this.now();
    return keys.map((key) => {
      const held = this.entries.get(key);
      if (held === undefined) return undefined;
      this.entries.delete(key);
      if (held.entry.staleUntil <= now) {
        this.bytes -= held.size;
        return undefined;
      }
      this.entries.set(key, held);
      return held.entry;
    });
  }

  async set(entries: ReadonlyArray<readonly [string, CacheEntry]>): Promise<void> {
    for (const [key, entry] of entries) {
      const old = this.entries.get(key);
      if (old !== undefined) {
        this.entries.delete(key);
        this.bytes -= old.size;
      }
      // Key and JSON as UTF-16 in memory, plus the objects around them: a fair estimate, computed once.
      const size = 2 * (key.length + JSON.stringify(entry).length) + 64;
      if (size > this.maxBytes) continue;
      this.entries.set(key, { entry, size });
      this.bytes += size;
    }
    for (const [key, held] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(key);
      this.bytes -= held.size;
    }
  }

  async evict(prefix: string, suffix = ''): Promise<number> {
    let removed = 0;
    for (const [key, held] of this.entries) {
      if (!key.startsWith(prefix) || !key.endsWith(suffix)) continue;
      this.entries.delete(key);
      this.bytes -= held.size;
      removed++;
    }
    return removed;
  }
}
