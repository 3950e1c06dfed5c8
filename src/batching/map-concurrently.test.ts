import { expect, it } from 'vitest';
import { mapConcurrently } from './map-concurrently.js';

it('keeps at most `limit` calls in flight and returns results in input order', async () => {
  let inFlight = 0;
  let most = 0;
  const results = await mapConcurrently([30, 5, 20, 1, 10, 15], 2, async (ms) => {
    most = Math.max(most, ++inFlight);
    await new Promise((resolve) => setTimeout(resolve, ms));
    inFlight--;
    return ms * 2;
  });
  expect(results).toEqual([60, 10, 40, 2, 20, 30]);
  expect(most).toBe(2);
});

it('handles fewer items than the limit, and none', async () => {
  expect(await mapConcurrently([1], 4, async (n) => n + 1)).toEqual([2]);
  expect(await mapConcurrently([], 4, async (n: number) => n)).toEqual([]);
});
