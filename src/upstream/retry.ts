/**
 * When to try an upstream call again, and how long to wait first.
 *
 * The upstream's own word wins: a `Retry-After` or a rate-limit reset time is waited out (plus a little
 * jitter, so that callers released together do not arrive together). Without one, waits grow
 * exponentially with full jitter. Either way the total wait of one call is capped: a reset that is
 * minutes away fails the call at once with its `retryAfter`, rather than holding a GraphQL response open.
 */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Most time one call may spend waiting between attempts. */
  maxTotalWaitMs: number;
  /** First backoff step when the upstream gave no wait of its own. */
  baseDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 3, maxTotalWaitMs: 2_000, baseDelayMs: 100 };

/**
 * The wait before attempt `attempt + 1` (attempt counts from 1), given the upstream's requested wait.
 * `random` is injectable so tests can pin the jitter.
 */
export function retryDelayMs(
  policy: RetryPolicy,
  attempt: number,
  upstreamWaitMs: number | undefined,
  random: () => number = Math.random,
): number {
  if (upstreamWaitMs !== undefined) {
    const jitter = Math.min(250, upstreamWaitMs * 0.1) * random();
    return Math.ceil(upstreamWaitMs + jitter);
  }
  const ceiling = policy.baseDelayMs * 2 ** (attempt - 1);
  return Math.ceil(ceiling * random());
}

/**
 * `Retry-After` as milliseconds from `now`: either delta-seconds or an HTTP date (RFC 9110 §10.2.3).
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** An epoch-seconds reset time (X's `x-rate-limit-reset`) as milliseconds from `now`. */
export function parseResetEpochSeconds(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Math.max(0, Number(value) * 1000 - now);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
