import type { FieldSet } from '../providers/provider.js';
import type { CacheEntry } from './entry.js';
import type { RecordCache } from './record-cache.js';

/**
 * The record cache in this process's memory, bounded in bytes.
 *
 * Contract: `get` answers what the last `set` of a key stored, until that entry's `staleUntil` (on the
 * injected clock), or `undefined` when it has expired or was dropped to stay within `maxBytes`; never an
 * older or another key's value. Every hit is decoded into fresh objects: no reader sees another's
 * changes (only `fields` may be a shared, frozen array). `maxBytes = 0` keeps nothing.
 *
 * Design, and why:
 * - CPU per miss. Storing an entry costs one `JSON.stringify` of its record and a copy of that text into
 *   a slab: nothing is stringified only to be measured, no object is kept per entry, and no call walks
 *   the entries (recycling a slab walks that slab's entries once, which each entry pays for once).
 * - Honest memory. Entries live off the V8 heap in a log-structured arena of `Buffer` slabs, allocated
 *   outside Node's pool (`allocUnsafeSlow`), reused in a ring and never freed, so the cache's memory is
 *   what it counts: the slabs, whole, plus an estimate of what its index costs on the heap. That count
 *   stays within `maxBytes` after every `set`; the only other memory is the bounded table of field sets.
 * - No GC work per entry. The heap holds one `Map` from each key to a small integer (where its entry
 *   sits), so the collector sees one string per entry and no object graph.
 *
 * Recency approximates LRU as FIFO by slab with a second chance: a hit on an entry in the older half of
 * a turn of the ring copies its bytes (no decoding) to the newest slab, so an entry read at least once
 * per half a turn is never recycled; one never read leaves after a full turn. Unlike an LRU, a hit on a
 * young entry costs nothing, and what is read once just before its slab is recycled survives it too.
 */
export class MemoryCache implements RecordCache {
  /** Each slab's size: a multiple of 8, since entries start 8-byte aligned for the typed views. */
  private readonly slabBytes: number;
  /** Locations count 8-byte units: an arena under 8 GiB keeps them small integers (Smis). */
  private readonly slabUnits: number;
  /** What a key costs in the index beyond its string (see `indexCost`). */
  private readonly slotBytes: number;
  private readonly slabs: Buffer[] = [];
  private readonly words: Uint32Array[] = [];
  private readonly doubles: Float64Array[] = [];
  /** Per slab id: how many bytes of it hold entries (live or garbage). */
  private readonly used: number[] = [];
  /** Slab ids in the order they are written: the oldest follows the current one. */
  private readonly ring: number[] = [];
  /** Per slab id: its place in `ring`. */
  private readonly ringAt: number[] = [];
  /** The place in `ring` of the slab being written; -1 before the first. */
  private current = -1;
  private readonly index = new Map<string, number>();
  /** The estimated heap cost of the index's live keys. */
  private indexBytes = 0;
  private readonly fieldSets = new FieldSets();

  constructor(
    private readonly maxBytes: number,
    private readonly now: () => number = Date.now,
  ) {
    const slab = Math.min(MAX_SLAB_BYTES, Math.max(MIN_SLAB_BYTES, maxBytes / SLABS_PER_CACHE));
    // A cache smaller than two of the smallest slabs still gets one, half its size: the index has the rest.
    this.slabBytes = Math.floor(Math.min(slab, maxBytes / 2) / 8) * 8;
    this.slabUnits = this.slabBytes / 8;
    // Past 2^30 units, a location is a heap number: 16 bytes more per key.
    this.slotBytes = MAP_SLOT_BYTES + (maxBytes / 8 >= 2 ** 30 ? 16 : 0);
  }

  /** Entries indexed, and the bytes counted against `maxBytes`: the slabs allocated and the index's estimate. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.index.size, bytes: this.counted };
  }

  /** What counts against `maxBytes`. */
  private get counted(): number {
    return this.ring.length * this.slabBytes + this.indexBytes;
  }

  async get(keys: readonly string[]): Promise<Array<CacheEntry | undefined>> {
    return this.getNow(keys);
  }

  /** `get` without a promise: what a caller on the hot path uses when it knows the cache is in memory. */
  getNow(keys: readonly string[]): Array<CacheEntry | undefined> {
    const found = new Array<CacheEntry | undefined>(keys.length);
    if (this.index.size === 0) return found.fill(undefined);
    const now = this.now();
    for (let i = 0; i < keys.length; i++) found[i] = this.read(keys[i]!, now);
    return found;
  }

  async set(entries: ReadonlyArray<readonly [string, CacheEntry]>): Promise<void> {
    if (this.slabBytes < HEADER) return;
    const now = this.now();
    for (const [key, entry] of entries) this.write(key, entry, now);
  }

  async evict(prefix: string, suffix = ''): Promise<number> {
    let removed = 0;
    for (const [key, location] of this.index) {
      if (!key.startsWith(prefix) || !key.endsWith(suffix)) continue;
      this.drop(key, location);
      removed++;
    }
    return removed;
  }

  private read(key: string, now: number): CacheEntry | undefined {
    const location = this.index.get(key);
    if (location === undefined) return undefined;
    const id = Math.floor(location / this.slabUnits);
    const at = (location - id * this.slabUnits) * 8;
    const doubles = this.doubles[id]!;
    const staleUntil = doubles[(at >>> 3) + 2]!;
    if (!(staleUntil > now)) {
      this.drop(key, location);
      return undefined;
    }
    const slab = this.slabs[id]!;
    const words = this.words[id]!;
    const length = words[at >>> 2]!;
    const fieldsId = words[(at >>> 2) + 6]!;
    const kind = slab[at + KIND_AT]!;
    const textAt = at + HEADER + words[(at >>> 2) + 1]!;
    let fields: FieldSet;
    let value: unknown;
    if (fieldsId === INLINE_FIELDS) {
      const parsed = JSON.parse(slab.toString('utf8', textAt, at + length)) as [FieldSet, unknown?];
      fields = parsed[0];
      value = parsed[1];
    } else {
      fields = this.fieldSets.get(fieldsId);
      if (kind === RECORD) value = JSON.parse(slab.toString('utf8', textAt, at + length));
      else if ((kind & WITH_MESSAGE) !== 0) value = slab.toString('utf8', textAt, at + length);
    }
    const freshUntil = doubles[(at >>> 3) + 1]!;
    if (this.inOlderHalf(id)) this.promote(key, id, at, length);
    if (kind === RECORD) return { record: value, fields, freshUntil, staleUntil };
    if (kind === EMPTY) return { fields, freshUntil, staleUntil };
    const code = (kind & ~WITH_MESSAGE) === SUSPENDED ? 'SUSPENDED' : 'NOT_FOUND';
    const missing: CacheEntry['missing'] = (kind & WITH_MESSAGE) !== 0 ? { code, message: value as string } : { code };
    return { missing, fields, freshUntil, staleUntil };
  }

  private write(key: string, entry: CacheEntry, now: number): void {
    const { missing, record, fields, freshUntil, staleUntil } = entry;
    // What is not written must not leave the key's previous entry answering in its place. Text with a
    // lone surrogate would come back from UTF-8 changed: a key that recycling could not find, a message
    // not the one stored.
    if (!(staleUntil > now) || !wellFormed(key) || (missing?.message !== undefined && !wellFormed(missing.message))) {
      this.forget(key);
      return;
    }
    let kind: number;
    if (missing !== undefined) {
      kind = missing.code === 'SUSPENDED' ? SUSPENDED : NOT_FOUND;
      if (missing.message !== undefined) kind |= WITH_MESSAGE;
    } else {
      kind = record === undefined ? EMPTY : RECORD;
    }
    const fieldsId = this.fieldSets.id(fields);
    let text: string | undefined;
    if (fieldsId === INLINE_FIELDS) {
      text = JSON.stringify(kind === RECORD ? [fields, record] : (kind & WITH_MESSAGE) !== 0 ? [fields, missing!.message] : [fields]);
    } else if (kind === RECORD) {
      text = JSON.stringify(record);
    } else if ((kind & WITH_MESSAGE) !== 0) {
      text = missing!.message;
    }
    // UTF-8 takes at most 3 bytes per UTF-16 unit: where that much fits (all but near a slab's end), the
    // write itself tells the lengths, sparing a `Buffer.byteLength` scan of the key and of the text.
    let id = this.current < 0 ? -1 : this.ring[this.current]!;
    const worst = HEADER + 3 * (key.length + (text === undefined ? 0 : text.length));
    if (id < 0 || this.used[id]! + worst > this.slabBytes || this.counted + indexCost(key, false, this.slotBytes) > this.maxBytes) {
      const keyBytes = Buffer.byteLength(key);
      const span = align(HEADER + keyBytes + (text === undefined ? 0 : Buffer.byteLength(text)));
      if (span > this.slabBytes || !this.makeRoom(span, indexCost(key, keyBytes === key.length, this.slotBytes))) {
        this.forget(key);
        return;
      }
      id = this.ring[this.current]!;
    }
    const at = this.used[id]!;
    const slab = this.slabs[id]!;
    const keyBytes = slab.write(key, at + HEADER, 'utf8');
    const length = HEADER + keyBytes + (text === undefined ? 0 : slab.write(text, at + HEADER + keyBytes, 'utf8'));
    const words = this.words[id]!;
    const doubles = this.doubles[id]!;
    words[at >>> 2] = length;
    words[(at >>> 2) + 1] = keyBytes;
    doubles[(at >>> 3) + 1] = freshUntil;
    doubles[(at >>> 3) + 2] = staleUntil;
    words[(at >>> 2) + 6] = fieldsId;
    slab[at + KIND_AT] = kind;
    this.used[id] = at + align(length);
    const before = this.index.size;
    this.index.set(key, id * this.slabUnits + at / 8);
    if (this.index.size !== before) this.indexBytes += indexCost(key, keyBytes === key.length, this.slotBytes);
  }

  /**
   * Makes the current slab able to take `span` more bytes, and the count able to take a key costing
   * `cost` (counted even when the key is already there: it errs on the safe side). False when the cache
   * is too small to hold this entry at all.
   */
  private makeRoom(span: number, cost: number): boolean {
    if (this.current < 0 || this.used[this.ring[this.current]!]! + span > this.slabBytes) {
      if (!this.advance(cost)) return false;
    }
    while (this.counted + cost > this.maxBytes) {
      if (!this.relieve()) return false;
    }
    return true;
  }

  /**
   * Moves on to a slab with nothing in it: the oldest when an index under pressure has emptied it,
   * else a new one while the count allows it, else the oldest, recycled.
   */
  private advance(cost: number): boolean {
    const count = this.ring.length;
    if (count > 0) {
      const next = (this.current + 1) % count;
      if (this.used[this.ring[next]!] === 0) {
        this.current = next;
        return true;
      }
    }
    if ((count + 1) * this.slabBytes + this.indexBytes + cost <= this.maxBytes) {
      this.allocate();
      return true;
    }
    if (count === 0) return false;
    this.current = (this.current + 1) % count;
    this.recycle(this.ring[this.current]!);
    return true;
  }

  /** A new slab, placed after the current one in the ring (the end of it, unless the ring has wrapped). */
  private allocate(): void {
    const id = this.slabs.length;
    const slab = Buffer.allocUnsafeSlow(this.slabBytes);
    this.slabs.push(slab);
    this.words.push(new Uint32Array(slab.buffer, slab.byteOffset, this.slabBytes / 4));
    this.doubles.push(new Float64Array(slab.buffer, slab.byteOffset, this.slabBytes / 8));
    this.used.push(0);
    this.current++;
    if (this.current === this.ring.length) {
      this.ring.push(id);
      this.ringAt.push(this.current);
      return;
    }
    this.ringAt.push(0);
    this.ring.splice(this.current, 0, id);
    for (let place = this.current; place < this.ring.length; place++) this.ringAt[this.ring[place]!] = place;
  }

  /** Recycles the oldest slab that holds entries (the current one last); false when none does. */
  private relieve(): boolean {
    const count = this.ring.length;
    for (let step = 1; step <= count; step++) {
      const id = this.ring[(this.current + step) % count]!;
      if (this.used[id] === 0) continue;
      this.recycle(id);
      return true;
    }
    return false;
  }

  /** Empties a slab: every key still pointing into it leaves the index. */
  private recycle(id: number): void {
    const slab = this.slabs[id]!;
    const words = this.words[id]!;
    const end = this.used[id]!;
    const base = id * this.slabUnits;
    for (let at = 0; at < end; at += align(words[at >>> 2]!)) {
      if (slab[at + KIND_AT] === DEAD) continue;
      const keyBytes = words[(at >>> 2) + 1]!;
      const key = slab.toString('utf8', at + HEADER, at + HEADER + keyBytes);
      if (this.index.get(key) !== base + at / 8) continue; // written again since, elsewhere
      this.index.delete(key);
      this.indexBytes -= indexCost(key, keyBytes === key.length, this.slotBytes);
    }
    this.used[id] = 0;
  }

  /**
   * Whether slab `id` is in the older half of a turn of the ring: the slabs there are, and those the
   * count still allows (while the ring grows, the first slab is not yet old).
   */
  private inOlderHalf(id: number): boolean {
    const count = this.ring.length;
    const age = (this.current - this.ringAt[id]! + count) % count; // slabs written since
    const spare = Math.floor((this.maxBytes - this.counted) / this.slabBytes);
    return age * 2 >= count + Math.max(0, spare);
  }

  /** The second chance: a copy of the entry's bytes in the current slab, where the index now points. */
  private promote(key: string, id: number, at: number, length: number): void {
    const span = align(length);
    if (this.used[this.ring[this.current]!]! + span > this.slabBytes) {
      // Not when making room would recycle the very slab the entry is in.
      if (this.ring[(this.current + 1) % this.ring.length] === id || !this.advance(0)) return;
    }
    const target = this.ring[this.current]!;
    const to = this.used[target]!;
    this.slabs[id]!.copy(this.slabs[target]!, to, at, at + length);
    this.used[target] = to + span;
    this.slabs[id]![at + KIND_AT] = DEAD;
    this.index.set(key, target * this.slabUnits + to / 8);
  }

  private forget(key: string): void {
    const location = this.index.get(key);
    if (location !== undefined) this.drop(key, location);
  }

  /** Removes a key from the index, its bytes marked as garbage so that recycling skips them. */
  private drop(key: string, location: number): void {
    const id = Math.floor(location / this.slabUnits);
    const at = (location - id * this.slabUnits) * 8;
    this.slabs[id]![at + KIND_AT] = DEAD;
    this.index.delete(key);
    this.indexBytes -= indexCost(key, this.words[id]![(at >>> 2) + 1] === key.length, this.slotBytes);
  }
}

/**
 * The entry's header: total length u32 (header, key and payload), key length u32, freshUntil f64,
 * staleUntil f64, field-set id u32 (or INLINE_FIELDS), kind u8. The key's UTF-8 bytes follow, then the
 * payload: the record's JSON, or the missing message's text, or, with fields inline, the JSON of
 * `[fields, record or message]` (or `[fields]`).
 */
const HEADER = 29;
const KIND_AT = 28;
/** Kinds: a record, an entry with neither record nor missing, the two negative answers (plus a flag). */
const RECORD = 0;
const EMPTY = 1;
const NOT_FOUND = 2;
const SUSPENDED = 3;
const WITH_MESSAGE = 4;
/** Bytes no key points to any more (expired, evicted, overwritten with a copy elsewhere). */
const DEAD = 0xff;
const INLINE_FIELDS = 0xffff_ffff;

/** Enough slabs that recycling one drops a small part of the cache, few enough to be large. */
const SLABS_PER_CACHE = 16;
const MIN_SLAB_BYTES = 4 * 1024;
const MAX_SLAB_BYTES = 1024 * 1024;

/** A V8 string's header (map, hash, length). */
const STRING_HEADER_BYTES = 16;
/**
 * A key's share of the index's `Map`. V8's table takes 28 bytes per slot of capacity (3 words per entry,
 * a bucket word per two) and, under churn (deletes leave holes until a rehash), holds 2 to 4 slots per
 * live key: 56 to 112 bytes, 80 on average. Measured with --expose-gc, `heapUsed` around 100k keys of
 * 44 ASCII characters built as the lookup service builds them, Smi values: 101-103 bytes per key in a
 * Map only filled, 137 in one churned as a FIFO (6 × 100k sets), 64 of which are the string: 37-39 and
 * 73 for the Map. In this cache, with keys of 36 characters (counted 136 bytes each): 85 bytes per key
 * in all while it fills, 158 once churned (72k keys in a 262,144-slot table).
 */
const MAP_SLOT_BYTES = 80;

/** `String.prototype.isWellFormed` (Node 20), not yet in TypeScript's ES2023 library. */
function wellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed();
}

function align(bytes: number): number {
  return (bytes + 7) & ~7;
}

/**
 * A key's estimated heap cost: its string and its slots. V8 holds a string in one byte a character when
 * it can: sure for ASCII (UTF-8 as long as the string), else assumed two.
 */
function indexCost(key: string, ascii: boolean, slotBytes: number): number {
  return STRING_HEADER_BYTES + align(ascii ? key.length : 2 * key.length) + slotBytes;
}

/**
 * Field sets as small integers: a cache holds few distinct sets (one per shape of operation), so each
 * entry stores 4 bytes instead of its list. Bounded: past `MAX_FIELD_SETS`, entries carry theirs inline.
 */
class FieldSets {
  private readonly ids = new Map<string, number>();
  private readonly sets: FieldSet[] = [];
  /** A batch's entries share one array: its id, checked element by element, spares a join and a lookup. */
  private lastFields: FieldSet | undefined;
  private lastId = INLINE_FIELDS;

  /** The set's id, or INLINE_FIELDS when the table is full (or the set's joined names are another's). */
  id(fields: FieldSet): number {
    if (fields === this.lastFields && same(fields, this.sets[this.lastId]!)) return this.lastId;
    const name = fields.join('\u0000');
    let id = this.ids.get(name);
    if (id === undefined) {
      if (this.sets.length >= MAX_FIELD_SETS) return INLINE_FIELDS;
      id = this.sets.length;
      this.sets.push(Object.freeze([...fields]));
      this.ids.set(name, id);
    } else if (!same(fields, this.sets[id]!)) {
      return INLINE_FIELDS;
    }
    this.lastFields = fields;
    this.lastId = id;
    return id;
  }

  get(id: number): FieldSet {
    return this.sets[id]!;
  }
}

const MAX_FIELD_SETS = 1024;

function same(a: FieldSet, b: FieldSet): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
