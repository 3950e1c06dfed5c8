import type { FieldSet } from '../core/types.js';
import type { CacheEntry } from './entry.js';
import { hashKey, LocationIndex } from './location-index.js';
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
 *   outside Node's pool (`allocUnsafeSlow`), reused in a ring and never freed, and keys are found through
 *   a hash table in typed arrays (`LocationIndex`), so the cache's memory is what it counts: the slabs,
 *   whole, and the table. That count stays within `maxBytes` after every `set`; the only other memory is
 *   the bounded table of field sets.
 * - No GC work per entry. Keys live in the slabs beside their entries; the heap holds no string, no
 *   object and no `Map` slot per entry (a `Map` under this churn cost ~1.5 µs per insert and delete).
 *
 * Recency approximates LRU as FIFO by slab with a second chance: a hit on an entry in the older half of
 * a turn of the ring copies its bytes (no decoding) to the newest slab, so an entry read at least once
 * per half a turn is never recycled; one never read leaves after a full turn. Unlike an LRU, a hit on a
 * young entry costs nothing, and what is read once just before its slab is recycled survives it too.
 */
export class MemoryCache implements RecordCache {
  /** Each slab's size: a multiple of 8, since entries start 8-byte aligned for the typed views. */
  private readonly slabBytes: number;
  /** Locations count 8-byte units from the start of the arena: slab id × slabUnits + offset / 8. */
  private readonly slabUnits: number;
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
  private readonly index: LocationIndex;
  /** What the slabs may take: `maxBytes` less the index's share at its largest. */
  private readonly slabBudget: number;
  private readonly fieldSets = new FieldSets();

  constructor(
    maxBytes: number,
    private readonly now: () => number = Date.now,
  ) {
    // The index's share is fixed up front (it grows into it lazily): growing it later would have to take
    // memory back from slabs already allocated. A full index recycles the oldest slab, as a full arena does.
    this.index = new LocationIndex(indexSlotsFor(maxBytes));
    this.slabBudget = maxBytes - this.index.maxBytes;
    const slab = Math.min(MAX_SLAB_BYTES, Math.max(MIN_SLAB_BYTES, this.slabBudget / SLABS_PER_CACHE));
    // A cache smaller than two of the smallest slabs still gets one, half its budget.
    this.slabBytes = Math.max(0, Math.floor(Math.min(slab, this.slabBudget / 2) / 8) * 8);
    this.slabUnits = this.slabBytes / 8;
  }

  /** Entries indexed, and the bytes counted against `maxBytes`: the slabs allocated and the index. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.index.size, bytes: this.counted };
  }

  /** What counts against `maxBytes`. */
  private get counted(): number {
    return this.ring.length * this.slabBytes + this.index.bytes;
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
    // A batch's entries share one field set, as a rule: it is looked up once per set met, not per entry.
    let fields: FieldSet | undefined;
    let fieldsId = INLINE_FIELDS;
    for (const [key, entry] of entries) {
      if (entry.fields !== fields) {
        fields = entry.fields;
        fieldsId = this.fieldSets.id(fields);
      }
      this.write(key, entry, fieldsId, now);
    }
  }

  async evict(prefix: string, suffix = ''): Promise<number> {
    // Collected first: removing shifts entries between slots.
    const matching: number[] = [];
    for (const { location } of this.index.entries()) {
      const key = this.keyAt(location);
      if (key.startsWith(prefix) && key.endsWith(suffix)) matching.push(location);
    }
    for (const location of matching) this.drop(this.index.slotOf(this.hashAt(location), location));
    return matching.length;
  }

  private read(key: string, now: number): CacheEntry | undefined {
    const slot = this.find(key, hashKey(key));
    if (slot < 0) return undefined;
    const location = this.index.locationAt(slot);
    const id = Math.floor(location / this.slabUnits);
    const at = (location - id * this.slabUnits) * 8;
    const doubles = this.doubles[id]!;
    const staleUntil = doubles[(at >>> 3) + 2]!;
    if (!(staleUntil > now)) {
      this.drop(slot);
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
    if (this.inOlderHalf(id)) this.promote(slot, id, at, length);
    if (kind === RECORD) return { record: value, fields, freshUntil, staleUntil };
    if (kind === EMPTY) return { fields, freshUntil, staleUntil };
    const code = (kind & ~WITH_MESSAGE) === SUSPENDED ? 'SUSPENDED' : 'NOT_FOUND';
    const missing: CacheEntry['missing'] = (kind & WITH_MESSAGE) !== 0 ? { code, message: value as string } : { code };
    return { missing, fields, freshUntil, staleUntil };
  }

  private write(key: string, entry: CacheEntry, fieldsId: number, now: number): void {
    const { missing, record, fields, freshUntil, staleUntil } = entry;
    // What is not written must not leave the key's previous entry answering in its place. Text with a
    // lone surrogate would come back from UTF-8 changed: a key that recycling could not find, a message
    // not the one stored.
    const hash = hashKey(key);
    if (!(staleUntil > now) || !key.isWellFormed() || (missing?.message !== undefined && !missing.message.isWellFormed())) {
      this.forget(key, hash);
      return;
    }
    let kind: number;
    if (missing !== undefined) {
      kind = missing.code === 'SUSPENDED' ? SUSPENDED : NOT_FOUND;
      if (missing.message !== undefined) kind |= WITH_MESSAGE;
    } else {
      kind = record === undefined ? EMPTY : RECORD;
    }
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
    if (id < 0 || this.used[id]! + worst > this.slabBytes || this.index.full) {
      const span = align(HEADER + Buffer.byteLength(key) + (text === undefined ? 0 : Buffer.byteLength(text)));
      if (span > this.slabBytes || !this.makeRoom(span)) {
        this.forget(key, hash);
        return;
      }
      id = this.ring[this.current]!;
    }
    const at = this.used[id]!;
    const slab = this.slabs[id]!;
    const keyBytes = writeKey(slab, key, at + HEADER);
    const length = HEADER + keyBytes + (text === undefined ? 0 : slab.utf8Write(text, at + HEADER + keyBytes));
    const words = this.words[id]!;
    const doubles = this.doubles[id]!;
    words[at >>> 2] = length;
    words[(at >>> 2) + 1] = keyBytes;
    doubles[(at >>> 3) + 1] = freshUntil;
    doubles[(at >>> 3) + 2] = staleUntil;
    words[(at >>> 2) + 6] = fieldsId;
    words[(at >>> 2) + 7] = hash;
    slab[at + KIND_AT] = kind;
    this.used[id] = at + align(length);
    const location = id * this.slabUnits + at / 8;
    // Looked for only now: making room may have recycled the slab of the key's previous entry.
    const slot = this.find(key, hash, location);
    if (slot < 0) {
      this.index.insert(hash, location);
      return;
    }
    const previous = this.index.locationAt(slot);
    this.markDead(previous);
    this.index.move(slot, location);
  }

  /** The index slot of `key`'s entry (other than the one at `except`); -1 when it has none. */
  private find(key: string, hash: number, except = -1): number {
    return this.index.find(hash, (location) => location !== except && this.isKeyAt(location, key));
  }

  /** Whether the entry at `location` is `key`'s: its stored key's bytes compared with `key` (no decoding for ASCII). */
  private isKeyAt(location: number, key: string): boolean {
    const id = Math.floor(location / this.slabUnits);
    const at = (location - id * this.slabUnits) * 8;
    const keyBytes = this.words[id]![(at >>> 2) + 1]!;
    const slab = this.slabs[id]!;
    if (keyBytes !== key.length) return keyBytes > key.length && slab.toString('utf8', at + HEADER, at + HEADER + keyBytes) === key;
    // As many bytes as units: both ASCII if equal, since any other unit takes two or more bytes in UTF-8.
    for (let i = 0, from = at + HEADER; i < keyBytes; i++) if (slab[from + i] !== key.charCodeAt(i)) return false;
    return true;
  }

  private keyAt(location: number): string {
    const id = Math.floor(location / this.slabUnits);
    const at = (location - id * this.slabUnits) * 8;
    return this.slabs[id]!.toString('utf8', at + HEADER, at + HEADER + this.words[id]![(at >>> 2) + 1]!);
  }

  private hashAt(location: number): number {
    const id = Math.floor(location / this.slabUnits);
    const at = (location - id * this.slabUnits) * 8;
    return this.words[id]![(at >>> 2) + 7]! | 0;
  }

  private markDead(location: number): void {
    const id = Math.floor(location / this.slabUnits);
    this.slabs[id]![(location - id * this.slabUnits) * 8 + KIND_AT] = DEAD;
  }

  /**
   * Makes the current slab able to take `span` more bytes, and the index one more key. False when the
   * cache is too small to hold this entry at all.
   */
  private makeRoom(span: number): boolean {
    if (this.current < 0 || this.used[this.ring[this.current]!]! + span > this.slabBytes) {
      if (!this.advance()) return false;
    }
    while (this.index.full) {
      if (!this.relieve()) return false;
    }
    return true;
  }

  /**
   * Moves on to a slab with nothing in it: the oldest when an index under pressure has emptied it,
   * else a new one while the count allows it, else the oldest, recycled.
   */
  private advance(): boolean {
    const count = this.ring.length;
    if (count > 0) {
      const next = (this.current + 1) % count;
      if (this.used[this.ring[next]!] === 0) {
        this.current = next;
        return true;
      }
    }
    if ((count + 1) * this.slabBytes <= this.slabBudget) {
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

  /** Empties a slab: every key still pointing into it leaves the index (found by the hash stored with it: no key decoded). */
  private recycle(id: number): void {
    const slab = this.slabs[id]!;
    const words = this.words[id]!;
    const end = this.used[id]!;
    const base = id * this.slabUnits;
    for (let at = 0; at < end; at += align(words[at >>> 2]!)) {
      if (slab[at + KIND_AT] === DEAD) continue;
      const slot = this.index.slotOf(words[(at >>> 2) + 7]! | 0, base + at / 8);
      if (slot >= 0) this.index.remove(slot); // else written again since, elsewhere
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
    const spare = Math.floor((this.slabBudget - this.ring.length * this.slabBytes) / this.slabBytes);
    return age * 2 >= count + Math.max(0, spare);
  }

  /** The second chance: a copy of the entry's bytes in the current slab, where the index now points. */
  private promote(slot: number, id: number, at: number, length: number): void {
    const span = align(length);
    if (this.used[this.ring[this.current]!]! + span > this.slabBytes) {
      // Not when making room would recycle the very slab the entry is in.
      if (this.ring[(this.current + 1) % this.ring.length] === id || !this.advance()) return;
      // Recycling another slab shifted slots: the entry's is found again by its hash and location.
      slot = this.index.slotOf(this.words[id]![(at >>> 2) + 7]! | 0, id * this.slabUnits + at / 8);
      if (slot < 0) return;
    }
    const target = this.ring[this.current]!;
    const to = this.used[target]!;
    this.slabs[id]!.copy(this.slabs[target]!, to, at, at + length);
    this.used[target] = to + span;
    this.slabs[id]![at + KIND_AT] = DEAD;
    this.index.move(slot, target * this.slabUnits + to / 8);
  }

  private forget(key: string, hash: number): void {
    const slot = this.find(key, hash);
    if (slot >= 0) this.drop(slot);
  }

  /** Removes a slot from the index, its entry's bytes marked as garbage so that recycling skips them. */
  private drop(slot: number): void {
    this.markDead(this.index.locationAt(slot));
    this.index.remove(slot);
  }
}

/**
 * The entry's header: total length u32 (header, key and payload), key length u32, freshUntil f64,
 * staleUntil f64, field-set id u32 (or INLINE_FIELDS), the key's hash u32, kind u8. The key's UTF-8
 * bytes follow, then the payload: the record's JSON, or the missing message's text, or, with fields
 * inline, the JSON of `[fields, record or message]` (or `[fields]`).
 */
const HEADER = 33;
const KIND_AT = 32;
/** Kinds: a record, an entry with neither record nor missing, the two negative answers (plus a flag). */
const RECORD = 0;
const EMPTY = 1;
const NOT_FOUND = 2;
const SUSPENDED = 3;
const WITH_MESSAGE = 4;
/** Bytes no key points to any more (expired, evicted, overwritten with a copy elsewhere). */
const DEAD = 0xff;
const INLINE_FIELDS = 0xffff_ffff;

/**
 * The index's share of `maxBytes` at most (12 bytes a slot, half of the slots used at most): an eighth,
 * room for a key per 24 bytes of it, so a cache of 64 MiB indexes up to 262,144 entries (6 MiB) and only
 * entries smaller than ~190 bytes on average (negative answers) are bound by the index rather than the slabs.
 */
function indexSlotsFor(maxBytes: number): number {
  const slots = Math.floor(maxBytes / 8 / LocationIndex.BYTES_PER_SLOT);
  return slots < 16 ? 0 : 2 ** Math.floor(Math.log2(slots));
}

/** Enough slabs that recycling one drops a small part of the cache, few enough to be large. */
const SLABS_PER_CACHE = 16;
const MIN_SLAB_BYTES = 4 * 1024;
const MAX_SLAB_BYTES = 1024 * 1024;

declare global {
  interface Buffer {
    /**
     * Buffer's own UTF-8 writer, which `write` calls after checking its arguments and encoding name
     * (ours are checked): on every Buffer since Node 0.x, absent from @types/node.
     */
    utf8Write(text: string, offset: number): number;
  }
}

/** A key's UTF-8 bytes at `at`: an ASCII key (the usual) byte by byte, sparing a native call; any other by `utf8Write`. */
function writeKey(slab: Buffer, key: string, at: number): number {
  for (let i = 0; i < key.length; i++) {
    const unit = key.charCodeAt(i);
    if (unit > 0x7f) return slab.utf8Write(key, at);
    slab[at + i] = unit;
  }
  return key.length;
}

function align(bytes: number): number {
  return (bytes + 7) & ~7;
}

/**
 * Field sets as small integers: a cache holds few distinct sets (one per shape of operation), so each
 * entry stores 4 bytes instead of its list. Bounded: past `MAX_FIELD_SETS`, entries carry theirs inline.
 */
class FieldSets {
  private readonly ids = new Map<string, number>();
  private readonly sets: FieldSet[] = [];
  /** The set's id, or INLINE_FIELDS when the table is full (or the set's joined names are another's). */
  id(fields: FieldSet): number {
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
