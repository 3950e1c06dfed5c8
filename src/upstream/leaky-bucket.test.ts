import { expect, it } from 'vitest';
import { LeakyBucket } from './leaky-bucket.js';

/** Real time, small rates: the bucket's waits are what is measured. */
const elapsed = async (fn: () => Promise<unknown>) => {
  const started = performance.now();
  await fn();
  return performance.now() - started;
};

it('lets a burst through at once, then one request per 1/rate', async () => {
  const bucket = new LeakyBucket([{ perSecond: 20, burst: 3 }]); // 50 ms per request after the burst
  expect(await elapsed(() => Promise.all([bucket.acquire(), bucket.acquire(), bucket.acquire()]))).toBeLessThan(30);
  const next = await elapsed(() => Promise.all([bucket.acquire(), bucket.acquire()]));
  expect(next).toBeGreaterThanOrEqual(90);
  expect(next).toBeLessThan(250);
});

it('every limit must have room: the strictest one sets the pace', async () => {
  const bucket = new LeakyBucket([
    { perSecond: 100, burst: 10 },
    { perSecond: 10, burst: 1 },
  ]);
  const time = await elapsed(() => Promise.all([1, 2, 3].map(() => bucket.acquire())));
  expect(time).toBeGreaterThanOrEqual(190); // 1 at once, then 100 ms each
});

it('drains while idle', async () => {
  const bucket = new LeakyBucket([{ perSecond: 20, burst: 1 }]);
  await bucket.acquire();
  expect(bucket.waitMs()).toBeGreaterThan(0);
  await new Promise((resolve) => setTimeout(resolve, 60));
  expect(bucket.waitMs()).toBe(0);
});

it('serves waiters first come, first served', async () => {
  const bucket = new LeakyBucket([{ perSecond: 50, burst: 1 }]);
  const order: number[] = [];
  await Promise.all([1, 2, 3, 4].map((n) => bucket.acquire().then(() => order.push(n))));
  expect(order).toEqual([1, 2, 3, 4]);
});
