import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashKey, LocationIndex } from './location-index.js';

/**
 * The index on its own, its keys kept beside it as the arena keeps them (a location names the key).
 * Held against a `Map` with fast-check: whatever the order of inserts, moves and removals, with hashes
 * that collide on purpose (a few distinct values, so probes cross and removals shift), every key is
 * found where it was put and nowhere else.
 */

/** An index over a pretend arena: location → key. */
function indexOver(maxSlots: number) {
  const index = new LocationIndex(maxSlots);
  const keys = new Map<number, string>();
  return {
    index,
    keys,
    find: (key: string, hash: number) => index.find(hash, (location) => keys.get(location) === key),
  };
}

describe('LocationIndex', () => {
  it('holds no memory until the first key, grows by doubling up to its bound, and says when it is full', () => {
    const { index } = indexOver(64);
    expect([index.bytes, index.maxBytes]).toEqual([0, 64 * 12]);
    index.insert(hashKey('a'), 1);
    expect(index.bytes).toBe(16 * 12);
    for (let i = 2; i <= 32; i++) index.insert(hashKey(`k${i}`), i);
    expect([index.size, index.bytes, index.full]).toEqual([32, 64 * 12, true]);
    expect(() => index.insert(hashKey('one more'), 33)).toThrow(/full/);
  });

  it('never hashes a key to 0, the empty slot', () => {
    for (const key of ['', 'a', 'x|users|||1', 'ユーザー']) expect(hashKey(key)).not.toBe(0);
  });

  it('a removal at the end of the table leaves a key that wrapped around where its probe finds it', () => {
    // 16 slots: X at 14 (its home), Y at 15 (its home), Z homed at 15 too, so at 0.
    const { index, keys, find } = indexOver(16);
    for (const [key, hash, location] of [
      ['X', -2, 1],
      ['Y', 0x7fffffff, 2],
      ['Z', 0x7fffffff, 3],
    ] as const) {
      keys.set(location, key);
      index.insert(hash, location);
    }
    index.remove(find('X', -2));
    expect([find('Y', 0x7fffffff), find('Z', 0x7fffffff)].map((slot) => index.locationAt(slot))).toEqual([2, 3]);
  });

  it('finds, moves and removes keys whose hashes collide, as a Map would', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            op: fc.constantFrom('put', 'put', 'put', 'remove', 'find'),
            key: fc.integer({ min: 0, max: 40 }).map((n) => `k${n}`),
            // Few hashes: long probe chains, wrapped around the table's end, shifted by removals.
            hash: fc.constantFrom(1, 2, 16, 17, 33, 128, -15, -2, 0x7fffffff),
          }),
          { maxLength: 200 },
        ),
        (ops) => {
          const { index, keys, find } = indexOver(128);
          const model = new Map<string, { hash: number; location: number }>();
          let nextLocation = 1;
          for (const { op, key, hash: drawn } of ops) {
            const hash = model.get(key)?.hash ?? drawn;
            const slot = find(key, hash);
            expect(slot >= 0).toBe(model.has(key));
            if (op === 'put') {
              const location = nextLocation++;
              keys.set(location, key);
              if (slot >= 0) index.move(slot, location);
              else index.insert(hash, location);
              model.set(key, { hash, location });
            } else if (op === 'remove' && slot >= 0) {
              index.remove(slot);
              model.delete(key);
            }
            expect(index.size).toBe(model.size);
          }
          for (const [key, { hash, location }] of model) {
            const slot = find(key, hash);
            expect(index.locationAt(slot)).toBe(location);
            expect(index.slotOf(hash, location)).toBe(slot);
          }
          expect([...index.entries()].map((entry) => entry.location).sort((a, b) => a - b)).toEqual(
            [...model.values()].map((entry) => entry.location).sort((a, b) => a - b),
          );
        },
      ),
      { seed: 11, numRuns: 300 },
    );
  });
});
