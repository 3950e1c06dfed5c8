import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { latestWithin } from './routes.js';

describe('latestWithin', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('answers the reading when it comes in time, the last one when it is late or fails, and keeps a late one for the next call', async () => {
    let next: Promise<number[]> = Promise.resolve([1]);
    const read = latestWithin(() => next, 250);
    expect(await read()).toEqual([1]);

    let arrive!: (value: number[]) => void;
    next = new Promise((resolve) => {
      arrive = resolve;
    });
    const late = read();
    await vi.advanceTimersByTimeAsync(250);
    expect(await late).toEqual([1]);
    // It lands after all: the next call that is late answers it.
    arrive([2]);
    await Promise.resolve();
    next = new Promise(() => {});
    const later = read();
    await vi.advanceTimersByTimeAsync(250);
    expect(await later).toEqual([2]);

    next = Promise.reject(new Error('Redis said no'));
    expect(await read()).toEqual([2]);
  });

  it('answers [] before any reading came', async () => {
    const read = latestWithin<number>(() => new Promise(() => {}), 250);
    const first = read();
    await vi.advanceTimersByTimeAsync(250);
    expect(await first).toEqual([]);
  });
});
