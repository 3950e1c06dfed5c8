import { expect, it } from 'vitest';
import { mapConcurrently } from './map-concurrently.js';

/** A promise a test settles by hand. */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

it('keeps at most `limit` calls in flight, starts the next as one ends, and returns results in input order', async () => {
  const calls = new Map<number, ReturnType<typeof deferred<number>>>();
  let inFlight = 0;
  let most = 0;
  const all = mapConcurrently([1, 2, 3, 4, 5], 2, async (n) => {
    const call = deferred<number>();
    calls.set(n, call);
    most = Math.max(most, ++inFlight);
    const value = await call.promise;
    inFlight--;
    return value;
  });
  await settle();
  expect([...calls.keys()]).toEqual([1, 2]);
  calls.get(2)!.resolve(20); // the second ends first: the third starts, the first still runs
  await settle();
  expect([...calls.keys()]).toEqual([1, 2, 3]);
  for (const n of [3, 1, 4, 5]) {
    calls.get(n)!.resolve(n * 10);
    await settle();
  }
  expect(await all).toEqual([10, 20, 30, 40, 50]);
  expect(most).toBe(2);
});

it('handles fewer items than the limit, and none', async () => {
  expect(await mapConcurrently([1], 4, async (n) => n + 1)).toEqual([2]);
  expect(await mapConcurrently([], 4, async (n: number) => n)).toEqual([]);
});
