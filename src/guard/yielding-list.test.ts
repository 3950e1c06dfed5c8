import { describe, expect, it } from 'vitest';
import { SLICE, TurnSlicer } from './yielding-list.js';

/** One list, on a slicer of its own (a request with no other list). */
const inSlices = (items: readonly unknown[]) => new TurnSlicer().slice(items);

describe('TurnSlicer: a long list answered a slice per turn of the event loop', () => {
  it('a list of at most one slice comes back as it is', () => {
    const items = Array.from({ length: SLICE }, (_, i) => i);
    expect(inSlices(items)).toBe(items);
  });

  it('a longer one: the first slice as it is, each later slice settled in a turn of its own, I/O turns between, errors rejected in place', async () => {
    const items: unknown[] = Array.from({ length: 3 * SLICE + 5 }, (_, i) => i);
    const failure = new Error('not found');
    items[2 * SLICE + 1] = failure;
    const answered = inSlices(items);
    expect(answered.slice(0, SLICE)).toEqual(items.slice(0, SLICE));
    // Which turn of the loop each later item settled in: counted by a setImmediate chain of our own.
    let turn = 0;
    let counting = true;
    const tick = () => {
      turn++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const turns = await Promise.all(
      answered.slice(SLICE).map((item) =>
        Promise.resolve(item).then(
          (value) => ({ value, turn }),
          (error: unknown) => ({ value: error, turn }),
        ),
      ),
    );
    counting = false;
    expect(turns.map((t) => t.value)).toEqual(items.slice(SLICE));
    const slices = [turns.slice(0, SLICE), turns.slice(SLICE, 2 * SLICE), turns.slice(2 * SLICE)];
    const turnOf = slices.map((slice) => new Set(slice.map((t) => t.turn)));
    // Each slice settles together, each in a later turn than the one before.
    expect(turnOf.map((set) => set.size)).toEqual([1, 1, 1]);
    const [a, b, c] = turnOf.map((set) => [...set][0] ?? 0);
    expect(a! < b! && b! < c!).toBe(true);
  });

  it('one request’s lists share one allowance per turn: the second list of a turn gets what the first left', async () => {
    const slicer = new TurnSlicer();
    const first = Array.from({ length: 200 }, (_, i) => i);
    const second = Array.from({ length: 200 }, (_, i) => 1_000 + i);
    expect(slicer.slice(first)).toBe(first);
    const answered = slicer.slice(second);
    const immediate = answered.filter((item) => !(item instanceof Promise));
    expect(immediate).toEqual(second.slice(0, SLICE - 200));
    expect(await Promise.all(answered)).toEqual(second);
    // The turn that settled the last slice spent its allowance; the next one starts anew.
    await new Promise((resolve) => setImmediate(resolve));
    const third = Array.from({ length: SLICE }, (_, i) => i);
    expect(slicer.slice(third)).toBe(third);
  });

  it('an item that is a promise rejecting before its slice’s turn is not an unhandled rejection: it rejects in its place', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const failure = new Error('BAD_USER_INPUT');
      const items: unknown[] = Array.from({ length: SLICE + 1 }, (_, i) => Promise.resolve(i));
      items[SLICE] = Promise.reject(failure);
      // As an executor does, the list's items are listened to as soon as the list is there.
      const last = Promise.resolve(inSlices(items)[SLICE]).then(
        () => 'answered',
        (error: unknown) => error,
      );
      // Two turns: Node reports unhandled rejections between them.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      expect(await last).toBe(failure);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
