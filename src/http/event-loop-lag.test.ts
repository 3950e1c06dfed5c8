import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventLoopLag } from './event-loop-lag.js';

describe('EventLoopLag', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads how late its last tick came: 0 on time, the block’s length after a loop held busy', () => {
    vi.useFakeTimers();
    const lag = new EventLoopLag(10, () => Date.now());
    vi.advanceTimersByTime(10);
    expect(lag.ms).toBe(0);
    // The loop held for 95 ms: the tick due 10 ms after the last fires 85 ms late.
    vi.setSystemTime(Date.now() + 95);
    vi.advanceTimersByTime(10);
    expect(lag.ms).toBeGreaterThanOrEqual(85);
    vi.advanceTimersByTime(10);
    expect(lag.ms).toBe(0);
    lag.stop();
  });
});
