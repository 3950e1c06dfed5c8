/**
 * Where each key's entry sits in an arena (`MemoryCache`), as an open-addressing hash table in typed
 * arrays: a 32-bit hash and a location per slot, linear probing, deletion by backward shift (so no
 * tombstones lengthen later probes), grown by doubling past half full.
 *
 * Why not a `Map`: under the churn of a cache (every miss stored, the oldest dropped) a V8 `Map` of a
 * hundred thousand string keys costs ~1.5 µs per insert and delete (deleted entries stay in its chains
 * until a rehash) and ~100 bytes of heap per key; this costs a hash of the key and a probe or two, and
 * 12 bytes a slot, none of it an object the collector walks.
 *
 * The table keeps no keys: the arena does. A lookup hands it a predicate that compares the key with the
 * one stored at a location; removal by location needs no key at all (an entry's hash is stored with it).
 */
export class LocationIndex {
  static readonly BYTES_PER_SLOT = Int32Array.BYTES_PER_ELEMENT + Float64Array.BYTES_PER_ELEMENT;

  /** 0: an empty slot; else the key's hash (never 0: see `hashKey`). */
  private hashes: Int32Array;
  /** Locations in the arena: a float64 holds any of them exactly (an arena of up to 2^53 units). */
  private locations: Float64Array;
  private mask: number;
  private count = 0;

  /** Empty, holding no memory until the first key, and never more than `maxSlots` (a power of two; 0: no key ever). */
  constructor(private readonly maxSlots: number) {
    this.hashes = new Int32Array(0);
    this.locations = new Float64Array(0);
    this.mask = -1;
  }

  get size(): number {
    return this.count;
  }

  /** What the table holds in memory (its two arrays). */
  get bytes(): number {
    return this.hashes.length * LocationIndex.BYTES_PER_SLOT;
  }

  /** What it may hold at most. */
  get maxBytes(): number {
    return this.maxSlots * LocationIndex.BYTES_PER_SLOT;
  }

  /** Whether one more key would fill more than half of the largest table: one must go first. */
  get full(): boolean {
    return (this.count + 1) * 2 > this.maxSlots;
  }

  /** The slot of the key whose hash is `hash` and for which `isKeyAt(location)` holds; -1 when absent. */
  find(hash: number, isKeyAt: (location: number) => boolean): number {
    const { hashes, locations, mask } = this;
    if (mask < 0) return -1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const stored = hashes[slot]!;
      if (stored === 0) return -1;
      if (stored === hash && isKeyAt(locations[slot]!)) return slot;
    }
  }

  /** The slot holding `location` (whose key hashes to `hash`); -1 when none does. */
  slotOf(hash: number, location: number): number {
    const { hashes, locations, mask } = this;
    if (mask < 0) return -1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const stored = hashes[slot]!;
      if (stored === 0) return -1;
      if (stored === hash && locations[slot] === location) return slot;
    }
  }

  locationAt(slot: number): number {
    return this.locations[slot]!;
  }

  /** Points an existing slot at another location (the key written again, or moved). */
  move(slot: number, location: number): void {
    this.locations[slot] = location;
  }

  /** Adds a key known to be absent; the table must not be `full`. */
  insert(hash: number, location: number): void {
    if (this.full) throw new Error('LocationIndex: full');
    if ((this.count + 1) * 2 > this.hashes.length) this.grow();
    const { hashes, mask } = this;
    let slot = hash & mask;
    while (hashes[slot] !== 0) slot = (slot + 1) & mask;
    hashes[slot] = hash;
    this.locations[slot] = location;
    this.count++;
  }

  /** Empties `slot`, shifting back the entries after it that probed past it. */
  remove(slot: number): void {
    const { hashes, locations, mask } = this;
    let hole = slot;
    for (let next = (hole + 1) & mask; hashes[next] !== 0; next = (next + 1) & mask) {
      const home = hashes[next]! & mask;
      // The entry at `next` may fill the hole when its home is not between the hole and it (cyclically).
      const between = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (between) continue;
      hashes[hole] = hashes[next]!;
      locations[hole] = locations[next]!;
      hole = next;
    }
    hashes[hole] = 0;
    this.count--;
  }

  /** Every occupied slot's location (for an administrator's scan: it may be slow). */
  *entries(): Generator<{ slot: number; location: number }> {
    for (let slot = 0; slot < this.hashes.length; slot++) {
      if (this.hashes[slot] !== 0) yield { slot, location: this.locations[slot]! };
    }
  }

  private grow(): void {
    const { hashes, locations } = this;
    const capacity = Math.min(this.maxSlots, Math.max(MIN_CAPACITY, hashes.length * 2));
    this.hashes = new Int32Array(capacity);
    this.locations = new Float64Array(capacity);
    this.mask = this.hashes.length - 1;
    this.count = 0;
    for (let slot = 0; slot < hashes.length; slot++) if (hashes[slot] !== 0) this.insert(hashes[slot]!, locations[slot]!);
  }
}

/** The first table's slots: 192 bytes. */
const MIN_CAPACITY = 16;

/** A key's hash (FNV-1a over its UTF-16 units), never 0, which marks an empty slot. */
export function hashKey(key: string): number {
  let hash = 0x811c9dc5 | 0;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return hash === 0 ? 1 : hash;
}
