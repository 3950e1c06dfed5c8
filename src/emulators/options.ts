import type { EmulatorClock } from './clock.js';

/** What every HTTP emulator's options share. */
export interface HttpEmulatorOptions {
  /** Default 0 (any free port). */
  port?: number;
  /** Default 127.0.0.1: emulators never listen beyond this machine. */
  host?: string;
  /** Artificial delay before every response, on real timers (not `clock`). Default 0. */
  latencyMs?: number;
  /**
   * Keep every request in `requests` (default true, for tests). A long-running demo or a benchmark
   * turns this off so memory stays flat.
   */
  recordRequests?: boolean;
  /** Where the emulator reads the time for everything time-based. Default: the system clock. */
  clock?: EmulatorClock;
}
