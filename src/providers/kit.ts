import type { ErrorCode } from '../core/errors.js';
import type { Env } from '../core/types.js';
import type { EmulatorClock } from '../emulators/clock.js';
import type { Provider } from './provider.js';

/**
 * A provider's test kit: its emulator, which the embedded demo serves and the tests drive, and the data
 * the conformance suite (test/conformance/) checks the provider with; beside the provider, never part of
 * its production contract. Each folder under `src/providers/` has one (`kit.ts`), listed in `kits.ts`;
 * production code loads them only for the demo, by dynamic import.
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
  /** What every provider must do, asked of this one (test/conformance/suite.ts). */
  readonly conformance: Conformance<Options, Handle>;
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

/**
 * How the conformance suite asks a provider for users, what its emulator saw, and the faults its
 * emulator raises as the real API does. Data only: the checks are written once, for every provider.
 */
export interface Conformance<Options, Handle> {
  /** The root field that takes user ids and answers a list aligned with them: `<field>(<argument>: [ID!]!)`. */
  readonly root: { readonly field: string; readonly argument: string };
  /** The entity type it answers, and what an `_entities` representation carries besides `__typename` and `id`. */
  readonly entity: { readonly typename: string; readonly representation?: Readonly<Record<string, unknown>> };
  /** `count` ids of users its emulator knows, from the `from`-th on (1 by default). */
  known(count: number, from?: number): string[];
  /** An id of the right form that its emulator does not know: NOT_FOUND. */
  readonly unknown: string;
  /** Ids of its own it must refuse before any call (beyond the suite's hostile strings, refused by every provider). */
  readonly invalid: readonly string[];
  /**
   * The most ids one upstream call carries, under `env` (variables that make it small enough to test when
   * its default is large). The suite asks for twice as many and one more.
   */
  readonly batching: { readonly idsPerCall: number; readonly env?: Env };
  /**
   * Selections of the entity type (the first: its key alone), and what the lookup call asks the upstream
   * for with each (`lookups(..).asks`); `perId`: one call per id instead of one per batch (a full record).
   */
  readonly selections: ReadonlyArray<{ readonly selection: string; readonly asks: string; readonly perId?: boolean }>;
  /** The lookup calls its emulator answered since its last reset, in order: the ids each asked for and what it asked. */
  lookups(handle: Handle): Array<{ ids: string[]; asks: string }>;
  /** Every request its emulator saw since its last reset (lookups, tokens, anything), one name each. */
  requests(handle: Handle): string[];
  /** The name `requests` gives one lookup call of the key selection. */
  readonly lookupRequest: string;
  /** Emulator options for a test that moves time: wall time that stands still but for the test's moves, or runs on. */
  onClock?(clocks: TestClocks): Options;
  /** Makes every request answer `ms` late until the emulator is reset: an upstream that hangs. */
  slow(handle: Handle, ms: number): void;
  /**
   * The faults its emulator raises as the real API fails, and the error each must answer. `attempts`:
   * UPSTREAM_MAX_ATTEMPTS of the test; `timeoutMs`: its UPSTREAM_TIMEOUT_MS.
   */
  faults(budget: { attempts: number; timeoutMs: number }): readonly FaultCase<Handle>[];
  /** Its credentials in the test set-up, and what its failures say: none may reach a caller; the credentials no log line or metric either. */
  readonly secrets: readonly string[];
  readonly upstreamText: readonly string[];
}

/** The clocks of a test that moves time (`advance` moves both). */
export interface TestClocks {
  /** Wall time that stands still but for the test's moves: a rate-limit reset is then exact. */
  readonly frozen: EmulatorClock;
  /** Wall time that runs on (a throttle needs time to pass), moved with the test too. */
  readonly running: EmulatorClock;
}

/** One way the upstream fails, and the answer the subgraph must give for every id of the lookup. */
export interface FaultCase<Handle> {
  readonly name: string;
  /** Queues the fault (enough of it for every attempt); `wallNowMs`: the test's wall time, for absolute resets. */
  inject(handle: Handle, wallNowMs: number): void;
  /** Variables the fault needs (a short UPSTREAM_TIMEOUT_MS). */
  readonly env?: Env;
  readonly code: ErrorCode;
  /** The `retryAfter` (seconds) every error carries, when the upstream said. */
  readonly retryAfter?: number;
  /** What its emulator sees for the failed operation, in order (`Conformance.requests`). */
  readonly requests: readonly string[];
  /**
   * Whether the subgraph keeps what it heard until `retryAfter` passes: the next operation fails at once
   * without a request, and one after the reset asks again.
   */
  readonly remembered?: boolean;
}
