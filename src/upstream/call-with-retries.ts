import type { Logger } from 'pino';
import { type Clock, sleep } from '../core/clock.js';
import { abandoned, type ErrorCode, ProviderError } from '../core/errors.js';
import type { RetryPolicy } from '../core/settings.js';
import type { ProviderId } from '../core/types.js';
import { retryDelayMs } from './retry.js';

/** Why an attempt failed, as the provider reads it, and whether another attempt could help. */
export interface Failure {
  kind: 'retry' | 'fail';
  code: ErrorCode;
  /** How long the upstream asked us to wait (Retry-After, a rate-limit reset, FLOOD_WAIT_X). */
  waitMs?: number;
}

export type AttemptOutcome<T> = { ok: true; value: T } | { ok: false; failure: Failure };

export interface RetryingCall {
  provider: ProviderId;
  /** Names the call in logs (a method template, never ids or secrets). */
  label: string;
  policy: RetryPolicy;
  logger: Logger;
  random?: () => number;
  /** What the waits between attempts are timed on; the system clock unless a test injects one. */
  clock?: Clock;
  /** Aborted when no one waits for the call any more: no further attempt is made, and a wait ends. */
  signal?: AbortSignal;
}

/**
 * The one retry loop, for HTTP requests and RPCs alike: run `attempt`; on a retryable failure wait
 * (the upstream's wait if it gave one, else jittered backoff) and run it again, until it succeeds,
 * fails for good, runs out of attempts, would wait past the policy's cap, or is abandoned (its signal).
 * Every way out that is not success is a `ProviderError` carrying the code and, when known,
 * `retryAfter` in seconds.
 */
export async function callWithRetries<T>(call: RetryingCall, attempt: () => Promise<AttemptOutcome<T>>): Promise<T> {
  const { provider, label, policy, logger, signal } = call;
  let waited = 0;
  for (let n = 1; ; n++) {
    if (signal?.aborted) throw abandoned(provider, signal);
    const outcome = await attempt();
    if (outcome.ok) return outcome.value;
    const { failure } = outcome;
    const retryAfter = failure.waitMs === undefined ? undefined : Math.ceil(failure.waitMs / 1000);
    const giveUp = (why: string, waitMs?: number) => {
      logger.warn({ method: label, attempt: n, code: failure.code, waitMs }, why);
      return new ProviderError({ code: failure.code, provider, retryAfter });
    };
    if (failure.kind === 'fail') throw giveUp('upstream call failed');
    if (n >= policy.maxAttempts) throw giveUp('upstream call failed after its last attempt');
    const delay = retryDelayMs(policy, n, failure.waitMs, call.random);
    if (waited + delay > policy.maxTotalWaitMs) throw giveUp('upstream wait exceeds the cap; giving up', delay);
    logger.debug({ method: label, attempt: n, code: failure.code, waitMs: delay }, 'retrying upstream call');
    waited += delay;
    try {
      await sleep(delay, call.clock, signal);
    } catch {
      throw abandoned(provider, signal!);
    }
  }
}
