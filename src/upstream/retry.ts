import type { RetryPolicy } from '../core/settings.js';
/**
 * When to try an upstream call again, and how long to wait first.
 *
 * The upstream's own word wins: a `Retry-After` or a rate-limit reset time is waited out (plus a little
 * jitter, so that callers released together do not arrive together). Without one, waits grow
 * exponentially with full jitter. Either way the total wait of one call is capped: a reset that is
 * minutes away fails the call at once with its `retryAfter`, rather than holding a GraphQL response open.
 */

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
 * `Retry-After` as milliseconds from `now`: delta-seconds, or an HTTP-date in one of its three forms
 * (RFC 9110 §5.6.7), all UTC. Anything else is ignored (undefined), so normal backoff applies: a
 * lenient date parser would read `1.5` as a day in 2001 and retry at once.
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = parseHttpDate(trimmed, now);
  return date === undefined ? undefined : Math.max(0, date - now);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const TIME = '(?<h>\\d{2}):(?<m>\\d{2}):(?<s>\\d{2})';
const HTTP_DATE_FORMS = [
  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
  new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (?<day>\\d{2}) (?<month>[A-Z][a-z]{2}) (?<year>\\d{4}) ${TIME} GMT$`),
  // obsolete RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
  new RegExp(`^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, (?<day>\\d{2})-(?<month>[A-Z][a-z]{2})-(?<yy>\\d{2}) ${TIME} GMT$`),
  // obsolete asctime: Sun Nov  6 08:49:37 1994 (UTC, though it does not say so)
  new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?<month>[A-Z][a-z]{2}) (?<day>[ \\d]\\d) ${TIME} (?<year>\\d{4})$`),
];

function parseHttpDate(text: string, now: number): number | undefined {
  for (const form of HTTP_DATE_FORMS) {
    const g = form.exec(text)?.groups;
    if (g === undefined) continue;
    const month = MONTHS.indexOf(g.month!);
    if (month < 0) return undefined;
    // A two-digit year more than 50 years ahead is in the past century (RFC 9110 §5.6.7).
    const year = g.year !== undefined ? Number(g.year) : twoDigitYear(Number(g.yy), now);
    return Date.UTC(year, month, Number(g.day), Number(g.h), Number(g.m), Number(g.s));
  }
  return undefined;
}

function twoDigitYear(yy: number, now: number): number {
  return 2000 + yy > new Date(now).getUTCFullYear() + 50 ? 1900 + yy : 2000 + yy;
}

/** An epoch-seconds reset time (X's `x-rate-limit-reset`) as milliseconds from `now`. */
export function parseResetEpochSeconds(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Math.max(0, Number(value) * 1000 - now);
}
