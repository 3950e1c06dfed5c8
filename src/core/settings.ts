/**
 * The settings the upstream layer runs with, as configuration (`src/config.ts`) gives them. This module
 * imports nothing of the project.
 */

/** How every provider talks to its upstream: one set of settings, each provider's client reads them. */
export interface UpstreamSettings {
  timeoutMs: number;
  connections: number;
  retry: RetryPolicy;
  circuit: CircuitSettings;
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Most time one call may spend waiting between attempts. */
  maxTotalWaitMs: number;
  /** First backoff step when the upstream gave no wait of its own. */
  baseDelayMs: number;
}

export interface CircuitSettings {
  /** Consecutive failed calls that open the circuit. */
  failures: number;
  /** How long an open circuit refuses calls before it lets one through to try. */
  coolDownMs: number;
}
