import type { EmulatorClock } from './clock.js';

export interface FixedWindow {
  /** Epoch seconds at which the window ends; the key's next use after it opens a fresh one. */
  resetAtS: number;
  /** What the emulator has counted in the window so far (requests, seconds of work). */
  total: number;
}

/**
 * Fixed windows, one per key (an endpoint path, a method): a key's window opens at its first use, ends
 * `windowSeconds` after that whole second, and the first use after its end opens a fresh one at 0.
 * What is counted, and what a full window means, is the emulator's own.
 */
export class FixedWindows {
  private readonly windows = new Map<string, FixedWindow>();

  constructor(
    private readonly windowSeconds: number,
    private readonly clock: EmulatorClock,
  ) {}

  /** The key's open window, opening a fresh one when it has none or it has ended. Change it in place. */
  current(key: string): FixedWindow {
    const nowS = this.clock.now() / 1000;
    let window = this.windows.get(key);
    if (window === undefined || nowS >= window.resetAtS) {
      window = { resetAtS: Math.floor(nowS) + this.windowSeconds, total: 0 };
      this.windows.set(key, window);
    }
    return window;
  }

  clear(): void {
    this.windows.clear();
  }
}
