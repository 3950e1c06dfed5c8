import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CacheEntry } from './entry.js';
import { MemoryCache } from './memory-cache.js';

/**
 * The in-memory record cache on an injected clock: what it answers (the last entry stored for a key,
 * decoded afresh on every hit, until its stale time), how it stays within its byte bound (whole slabs
 * recycled oldest first, the entries read often kept by their second chance), and, against a plain
 * `Map` as the model, that it may forget an entry but never answers a wrong or old one.
 */

const T0 = Date.UTC(2025, 0, 1);
const KiB = 1024;

function clock(): { now: () => number; advance(ms: number): void } {
  let now = T0;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
  };
}

function record(id: string, fields: string[] = ['id', 'name'], staleMs = 60_000, extra: object = {}): CacheEntry {
  return { record: { id, name: `User ${id}`, ...extra }, fields, freshUntil: T0 + staleMs / 2, staleUntil: T0 + staleMs };
}

/** A record whose JSON is about `bytes` long. */
function sized(id: string, bytes: number, staleMs = 60_000): CacheEntry {
  return record(id, ['id', 'name'], staleMs, { padding: 'x'.repeat(Math.max(0, bytes - 60)) });
}

describe('MemoryCache: what it answers', () => {
  it('round-trips records (nested, unicode, numbers) and negative entries with and without a message', async () => {
    const cache = new MemoryCache(1024 * KiB, clock().now);
    const nested = record('1', ['a', 'b', 'c'], 60_000, {
      profile: { bio: 'Ünïcödé: 日本語, emoji 🚀, quotes " and \\ and \n', tags: ['x', 'y'], deep: { deeper: [{ n: null }] } },
      numbers: { int: 42, negative: -7, float: 3.25, big: 2 ** 53 - 1, small: 1e-9 },
      flags: [true, false],
    });
    const entries: Array<[string, CacheEntry]> = [
      ['x|users|||1', nested],
      ['x|users|||404', { missing: { code: 'NOT_FOUND' }, fields: [], freshUntil: T0 + 1_000, staleUntil: T0 + 1_000 }],
      [
        'x|users|||403',
        { missing: { code: 'SUSPENDED', message: 'Compte suspendu — 🚫' }, fields: [], freshUntil: T0 + 1_000, staleUntil: T0 + 2_000 },
      ],
      ['x|users|||410', { missing: { code: 'NOT_FOUND', message: '' }, fields: ['id'], freshUntil: T0 + 1_000, staleUntil: T0 + 2_000 }],
      ['tg|users|scope é|part|ユーザー', record('ユーザー', ['first_name'])],
      ['x|users|||empty', { fields: ['id'], freshUntil: T0 + 1.5, staleUntil: T0 + 2.75 }],
    ];
    await cache.set(entries);
    const keys = [...entries.map(([key]) => key), 'x|users|||unknown'];
    expect(await cache.get(keys)).toEqual([...entries.map(([, entry]) => entry), undefined]);
    expect(cache.getNow(keys)).toEqual([...entries.map(([, entry]) => entry), undefined]);
    expect(cache.size.entries).toBe(entries.length);
  });

  it('decodes every hit into fresh objects: changing one changes neither the next read nor the cache', async () => {
    const cache = new MemoryCache(1024 * KiB, clock().now);
    const stored = record('1', ['id'], 60_000, { nested: { list: [1, 2] } });
    await cache.set([
      ['k', stored],
      ['m', { missing: { code: 'SUSPENDED', message: 'gone' }, fields: [], freshUntil: T0 + 1, staleUntil: T0 + 1_000 }],
    ]);
    (stored.record as { nested: { list: number[] } }).nested.list.push(3); // the caller's object, after `set`
    const [first, negative] = cache.getNow(['k', 'm']) as [CacheEntry, CacheEntry];
    (first.record as { nested: { list: number[] } }).nested.list.push(4);
    (first.record as { name: string }).name = 'changed';
    negative.missing!.message = 'changed';
    const [second, negativeAgain] = cache.getNow(['k', 'm']) as [CacheEntry, CacheEntry];
    expect(second.record).toEqual({ id: '1', name: 'User 1', nested: { list: [1, 2] } });
    expect(negativeAgain.missing).toEqual({ code: 'SUSPENDED', message: 'gone' });
    expect(second).not.toBe(first);
    expect(second.record).not.toBe(first.record);
    expect(negativeAgain.missing).not.toBe(negative.missing);
  });

  it('interns field sets (a shared, frozen array) and, past the table’s bound, stores them inline', async () => {
    const cache = new MemoryCache(4096 * KiB, clock().now);
    await cache.set([
      ['a', record('a', ['id', 'name'])],
      ['b', record('b', ['id', 'name'])],
      // Joined with the separator the table uses, these two would collide: each must keep its own.
      ['nul1', record('nul1', ['a\u0000b'])],
      ['nul2', record('nul2', ['a', 'b'])],
    ]);
    const [a, b, nul1, nul2] = cache.getNow(['a', 'b', 'nul1', 'nul2']) as CacheEntry[];
    expect(a!.fields).toEqual(['id', 'name']);
    expect(b!.fields).toBe(a!.fields);
    expect(Object.isFrozen(a!.fields)).toBe(true);
    expect(nul1!.fields).toEqual(['a\u0000b']);
    expect(nul2!.fields).toEqual(['a', 'b']);

    // 1,100 more distinct sets: the table (1,024) fills, and what is past it still round-trips.
    const many = Array.from({ length: 1_100 }, (_, i): [string, CacheEntry] => [`f${i}`, record(`f${i}`, [`field${i}`, 'id'])]);
    many.push([
      'negative-inline',
      { missing: { code: 'NOT_FOUND', message: 'no' }, fields: ['zz'], freshUntil: T0 + 1, staleUntil: T0 + 9 },
    ]);
    many.push(['empty-inline', { fields: ['zzz'], freshUntil: T0 + 1, staleUntil: T0 + 9 }]);
    for (let i = 0; i < many.length; i += 100) await cache.set(many.slice(i, i + 100));
    const read = cache.getNow(many.map(([key]) => key));
    expect(read).toEqual(many.map(([, entry]) => entry));
    expect(Object.isFrozen(read[0]!.fields)).toBe(true);
    expect(Object.isFrozen(read[1_099]!.fields)).toBe(false); // inline: decoded afresh with the entry
    const again = cache.getNow(['f1099'])[0]!;
    expect(again.fields).not.toBe(read[1_099]!.fields);
  });
});

describe('MemoryCache: expiry and overwrites', () => {
  it('answers an entry until its stale time, then forgets it', async () => {
    const time = clock();
    const cache = new MemoryCache(1024 * KiB, time.now);
    await cache.set([['k', record('1', ['id'], 10_000)]]);
    time.advance(9_999);
    expect(cache.getNow(['k'])[0]).toEqual(record('1', ['id'], 10_000));
    time.advance(1);
    expect(cache.getNow(['k'])).toEqual([undefined]);
    expect(cache.size.entries).toBe(0);
  });

  it('does not write an entry already stale, and the key’s previous entry no longer answers', async () => {
    const time = clock();
    const cache = new MemoryCache(1024 * KiB, time.now);
    await cache.set([['k', record('old', ['id'], 60_000)]]);
    time.advance(5_000);
    await cache.set([
      ['k', record('new', ['id'], 5_000)], // staleUntil === now
      ['other', record('other', ['id'], 1_000)],
    ]);
    expect(cache.size.entries).toBe(0);
    expect(cache.getNow(['k', 'other'])).toEqual([undefined, undefined]);
  });

  it('answers the last entry written for a key', async () => {
    const cache = new MemoryCache(1024 * KiB, clock().now);
    await cache.set([['k', record('1')]]);
    await cache.set([['k', record('2', ['id', 'name', 'more'])]]);
    await cache.set([
      ['k', { missing: { code: 'NOT_FOUND' }, fields: [], freshUntil: T0 + 1, staleUntil: T0 + 2 }],
      ['k', record('3')],
    ]);
    expect(cache.getNow(['k'])).toEqual([record('3')]);
    expect(cache.size.entries).toBe(1);
  });

  it('does not cache a key or message that UTF-8 would change (a lone surrogate)', async () => {
    const cache = new MemoryCache(1024 * KiB, clock().now);
    await cache.set([
      ['bad\ud800key', record('1')],
      ['bad-message', record('2')],
    ]);
    await cache.set([
      ['bad-message', { missing: { code: 'NOT_FOUND', message: 'lone \udc00' }, fields: [], freshUntil: T0 + 1, staleUntil: T0 + 2 }],
    ]);
    expect(cache.getNow(['bad\ud800key', 'bad-message'])).toEqual([undefined, undefined]);
    // A lone surrogate inside a record is fine: JSON escapes it.
    await cache.set([['fine', record('3', ['id'], 60_000, { text: 'lone \ud800 here' })]]);
    expect(cache.getNow(['fine'])).toEqual([record('3', ['id'], 60_000, { text: 'lone \ud800 here' })]);
  });
});

describe('MemoryCache: the byte bound', () => {
  it('stays within maxBytes, index included, dropping the oldest entries and keeping the newest', async () => {
    const maxBytes = 64 * KiB;
    const cache = new MemoryCache(maxBytes, clock().now);
    const keys = Array.from({ length: 2_000 }, (_, i) => `x|users|scope|part|${100_000 + i}`);
    for (let i = 0; i < keys.length; i += 10) {
      await cache.set(keys.slice(i, i + 10).map((key): [string, CacheEntry] => [key, sized(key, 200)]));
      expect(cache.size.bytes).toBeLessThanOrEqual(maxBytes);
    }
    // 2,000 entries of ~300 bytes went in: about a tenth fit, and the bound was not met by keeping little.
    expect(cache.size.entries).toBeGreaterThan(100);
    expect(cache.size.entries).toBeLessThan(300);
    expect(cache.size.bytes).toBeGreaterThan(maxBytes * 0.8);
    const newest = keys.slice(-50);
    expect(cache.getNow(newest)).toEqual(newest.map((key) => sized(key, 200)));
    expect(cache.getNow(keys.slice(0, 1_500)).every((entry) => entry === undefined)).toBe(true);
  });

  // Negative entries: ~200 bytes in a slab and ~250 in the index with 160-character keys; with short
  // keys, 40 bytes in a slab and ~110 in the index, so that the index outgrows the bound within a slab.
  it.each([
    { keys: 'long', maxBytes: 32 * KiB, key: (i: number) => `x|users|${'scope'.repeat(30)}|${i}` },
    { keys: 'short', maxBytes: 28 * KiB, key: (i: number) => `k${i}` },
  ])('counts the index with the slabs: with small entries and $keys keys, the bound holds', async ({ maxBytes, key }) => {
    const cache = new MemoryCache(maxBytes, clock().now);
    for (let i = 0; i < 3_000; i += 20) {
      const batch = Array.from({ length: 20 }, (_, j): [string, CacheEntry] => [
        key(i + j),
        { missing: { code: 'NOT_FOUND' }, fields: [], freshUntil: T0 + 1, staleUntil: T0 + 60_000 },
      ]);
      await cache.set(batch);
      expect(cache.size.bytes).toBeLessThanOrEqual(maxBytes);
    }
    // Each entry takes its header (33 bytes) and key in a slab, and two slots or more (12 bytes each) of the
    // index, which has an eighth of maxBytes: with entries this small, the index is what bounds their number.
    const span = Math.ceil((33 + key(2_999).length) / 8) * 8;
    expect(cache.size.entries).toBeLessThan(maxBytes / (span + 24));
    expect(cache.size.entries).toBeGreaterThan(Math.min(maxBytes / 8 / 24, maxBytes / span) / 4);
    expect(cache.getNow([key(2_999)])[0]?.missing).toEqual({ code: 'NOT_FOUND' });
  });

  it('recycles non-ASCII keys like any other: each answers its own entry or nothing', async () => {
    const maxBytes = 32 * KiB;
    const cache = new MemoryCache(maxBytes, clock().now);
    const key = (i: number) => (i % 2 === 0 ? `tg|ユーザー|${i}` : `x|café|${i}`);
    for (let i = 0; i < 1_000; i += 10) {
      await cache.set(Array.from({ length: 10 }, (_, j): [string, CacheEntry] => [key(i + j), sized(`${i + j}`, 100)]));
      expect(cache.size.bytes).toBeLessThanOrEqual(maxBytes);
    }
    const all = Array.from({ length: 1_000 }, (_, i) => key(i));
    const read = cache.getNow(all);
    read.forEach((entry, i) => {
      if (entry !== undefined) expect(entry).toEqual(sized(`${i}`, 100));
    });
    expect(read[999]).toEqual(sized('999', 100));
    expect(read[0]).toBeUndefined();
  });

  it('keeps nothing with maxBytes 0', async () => {
    const cache = new MemoryCache(0, clock().now);
    await cache.set([['k', record('1')]]);
    expect(cache.getNow(['k'])).toEqual([undefined]);
    expect(await cache.get(['k'])).toEqual([undefined]);
    expect(cache.size).toEqual({ entries: 0, bytes: 0 });
    expect(await cache.evict('')).toBe(0);
  });

  it('skips an entry larger than a slab without disturbing the others, and forgets the key’s previous entry', async () => {
    const maxBytes = 64 * KiB; // 4 KiB slabs
    const cache = new MemoryCache(maxBytes, clock().now);
    await cache.set([
      ['small', sized('small', 100)],
      ['big', sized('big', 100)],
    ]);
    await cache.set([
      ['before', sized('before', 100)],
      ['big', sized('big', 5_000)],
      ['after', sized('after', 100)],
    ]);
    expect(cache.getNow(['small', 'big', 'before', 'after'])).toEqual([
      sized('small', 100),
      undefined,
      sized('before', 100),
      sized('after', 100),
    ]);
    expect(cache.size.entries).toBe(3);
    expect(cache.size.bytes).toBeLessThanOrEqual(maxBytes);
  });
});

describe('MemoryCache: recycling', () => {
  it('keeps a key written again when the slab of its previous entry is recycled', async () => {
    const maxBytes = 64 * KiB; // 4 KiB slabs, a dozen in the ring
    const cache = new MemoryCache(maxBytes, clock().now);
    const filler = (round: number) =>
      Array.from({ length: 10 }, (_, j): [string, CacheEntry] => [`r${round}|${j}`, sized(`${round}`, 400)]);
    await cache.set([['k', sized('first', 300)]]);
    for (let round = 0; round < 6; round++) await cache.set(filler(round));
    await cache.set([['k', sized('second', 300)]]);
    // Enough for the ring to wrap past the first slab, not past the one written after it.
    for (let round = 6; round < 14; round++) await cache.set(filler(round));
    expect(cache.getNow(['r0|0', 'k'])).toEqual([undefined, sized('second', 300)]);
  });

  it('keeps an entry read repeatedly through writes that recycle its slab; one never read leaves', async () => {
    const maxBytes = 64 * KiB; // 4 KiB slabs, a dozen in the ring
    const cache = new MemoryCache(maxBytes, clock().now);
    await cache.set([
      ['hot', sized('hot', 300)],
      ['cold', sized('cold', 300)],
    ]);
    for (let round = 0; round < 60; round++) {
      // About a slab's worth of other entries per round: the ring turns about four times.
      await cache.set(Array.from({ length: 10 }, (_, j): [string, CacheEntry] => [`r${round}|${j}`, sized(`${round}`, 400)]));
      expect(cache.getNow(['hot']), `round ${round}`).toEqual([sized('hot', 300)]);
    }
    expect(cache.getNow(['cold', 'r0|0', 'r59|9'])).toEqual([undefined, undefined, sized('59', 400)]);
    expect(cache.size.bytes).toBeLessThanOrEqual(maxBytes);
  });
});

describe('MemoryCache: evict', () => {
  it('removes the keys with a prefix and a suffix, and resolves how many', async () => {
    const cache = new MemoryCache(1024 * KiB, clock().now);
    const keys = ['x|users|||1', 'x|users|||2', 'x|tweets|||1', 'tg|users|||1', 'tg|users|||22'];
    await cache.set(keys.map((key): [string, CacheEntry] => [key, record(key)]));
    expect(await cache.evict('x|', '|1')).toBe(2);
    expect(cache.getNow(keys).map((entry) => entry !== undefined)).toEqual([false, true, false, true, true]);
    expect(await cache.evict('', '|22')).toBe(1);
    expect(await cache.evict('nothing')).toBe(0);
    expect(await cache.evict('')).toBe(2);
    expect(cache.size.entries).toBe(0);
    // Evicted keys are written again as new.
    await cache.set([['x|users|||1', record('again')]]);
    expect(cache.getNow(['x|users|||1'])).toEqual([record('again')]);
  });
});

describe('MemoryCache against a model', () => {
  type Command =
    | { op: 'set'; writes: Array<{ key: number; entry: (now: number) => CacheEntry }> }
    | { op: 'get'; keys: number[] }
    | { op: 'evict'; prefix: string; suffix: string }
    | { op: 'wait'; ms: number };

  const KEYS = ['a|1', 'a|2', 'b|1', 'b|2', 'c|ü', 'c|22', 'd|1', 'dd|3'];
  const FIELDS = ['bio', 'id', 'name', 'username', 'verified'];

  const fields = fc.subarray(FIELDS).map((set) => [...set].sort());
  const times = fc.record({ fresh: fc.integer({ min: -50, max: 500 }), stale: fc.integer({ min: 0, max: 1_000 }) });
  // Up to 4,000 bytes: some entries fill a small cache's slab, some do not fit one.
  const sizedValue = fc
    .record({ text: fc.string({ unit: 'grapheme', maxLength: 40 }), padding: fc.nat({ max: 4_000 }) })
    .map(({ text, padding }) => ({ text, padding: 'p'.repeat(padding) }));
  const entry: fc.Arbitrary<(now: number) => CacheEntry> = fc.oneof(
    fc.tuple(fc.oneof(fc.jsonValue({ maxDepth: 3 }), sizedValue), fields, times).map(([value, set, t]) => (now: number) => ({
      record: value,
      fields: set,
      freshUntil: now + t.fresh,
      staleUntil: now + t.fresh + t.stale,
    })),
    fc
      .tuple(
        fc.constantFrom('NOT_FOUND' as const, 'SUSPENDED' as const),
        fc.option(fc.string({ unit: 'grapheme' }), { nil: undefined }),
        times,
      )
      .map(([code, message, t]) => (now: number) => ({
        missing: message === undefined ? { code } : { code, message },
        fields: [],
        freshUntil: now + t.fresh,
        staleUntil: now + t.fresh + t.stale,
      })),
  );
  const key = fc.integer({ min: 0, max: KEYS.length - 1 });
  const command: fc.Arbitrary<Command> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.array(fc.record({ key, entry }), { minLength: 1, maxLength: 6 }).map((writes) => ({ op: 'set' as const, writes })),
    },
    { weight: 4, arbitrary: fc.array(key, { minLength: 1, maxLength: 8 }).map((keys) => ({ op: 'get' as const, keys })) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('evict' as const),
        prefix: fc.constantFrom('', 'a|', 'b', 'c|', 'd'),
        suffix: fc.constantFrom('', '1', '|2'),
      }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 400 }) }) },
  );

  it('never answers a wrong or old entry; forgets only under its bound', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0, 6_000, 16 * KiB, 24 * KiB, 64 * KiB, 1024 * KiB),
        fc.boolean(),
        fc.array(command, { minLength: 1, maxLength: 80, size: 'max' }),
        async (maxBytes, fillFieldTable, commands) => {
          let now = T0;
          const cache = new MemoryCache(maxBytes, () => now);
          if (fillFieldTable) {
            // Past the table's bound: every set of this run is written inline.
            for (let i = 0; i < 1_100; i += 100) {
              const filler = Array.from({ length: 100 }, (_, j): [string, CacheEntry] => [`filler|${i + j}`, record('f', [`f${i + j}`])]);
              await cache.set(filler);
            }
            await cache.evict('filler|');
          }
          // The model: every entry ever set, unbounded, with the same expiry rule.
          const model = new Map<string, CacheEntry>();
          // While far less than 1 MiB has been written into a 1 MiB arena, it must forget nothing.
          let written = fillFieldTable ? 256 * KiB : 0;
          for (const command of commands) {
            const exact = maxBytes === 1024 * KiB && written < 512 * KiB;
            if (command.op === 'set') {
              const writes = command.writes.map(({ key, entry }): [string, CacheEntry] => [KEYS[key]!, entry(now)]);
              await cache.set(writes);
              for (const [key, entry] of writes) {
                const json = JSON.stringify(entry);
                written += Buffer.byteLength(json) + 64;
                model.set(key, JSON.parse(json));
              }
              expect(cache.size.bytes).toBeLessThanOrEqual(maxBytes);
            } else if (command.op === 'get') {
              const keys = command.keys.map((i) => KEYS[i]!);
              const got = cache.getNow(keys);
              keys.forEach((key, i) => {
                const held = model.get(key);
                const expected = held !== undefined && held.staleUntil > now ? held : undefined;
                if (expected === undefined || got[i] !== undefined || exact) expect(got[i]).toEqual(expected);
              });
            } else if (command.op === 'evict') {
              const matching = [...model.keys()].filter((key) => key.startsWith(command.prefix) && key.endsWith(command.suffix));
              const removed = await cache.evict(command.prefix, command.suffix);
              expect(removed).toBeLessThanOrEqual(matching.length);
              for (const key of matching) model.delete(key);
            } else {
              now += command.ms;
            }
          }
          if (maxBytes === 0) expect(cache.size).toEqual({ entries: 0, bytes: 0 });
        },
      ),
      { seed: 17, numRuns: 200 },
    );
  });
});
