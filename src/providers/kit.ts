import type { Env } from '../core/types.js';
import type { Provider } from './provider.js';

/**
 * A provider's test kit: its emulator, which the embedded demo serves and the tests drive, beside the
 * provider, never part of its production contract. Each folder under `src/providers/` has one
 * (`kit.ts`), listed in `kits.ts`; production code loads them only for the demo, by dynamic import.
 */
export interface ProviderKit<Options = unknown, Handle = unknown> {
  /** Its provider's name (`provider.id.name`), as a literal: what tests name an emulator by. */
  readonly name: string;
  readonly provider: Provider;
  /**
   * Starts the emulator on loopback (or in process). `demo`: long-running, so it keeps no request log.
   * `options` are the emulator's own, for tests.
   */
  start(mode: 'demo' | 'test', options?: Options): Promise<RunningEmulator<Handle>>;
}

export interface RunningEmulator<Handle = unknown> {
  /** The provider's environment variables that point it at this emulator. */
  env: Env;
  /** For an emulator the client cannot reach over the network: what to use instead (`ClientContext.transport`). */
  transport?: unknown;
  /** Where it listens, for the demo's log line. */
  location: string;
  /** The emulator itself, for tests to inspect and drive. */
  handle: Handle;
  /** Forgets recorded requests, injected faults and rate-limit state (tests, between cases). */
  reset(): void;
  close(): Promise<void>;
}
