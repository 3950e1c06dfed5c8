import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RetryPolicy } from '../core/settings.js';
import { seeded } from '../testing/pace-simulation.js';
import { DEFAULT_RETRY_POLICY, parseResetEpochSeconds, parseRetryAfter, retryDelayMs } from './retry.js';

const policy: RetryPolicy = { maxAttempts: 5, maxTotalWaitMs: 10_000, baseDelayMs: 100 };
const pinned = (value: number) => () => value;

/** Only `Date` is faked (timers stay real): the "current time" of a default `now` is pinned. */
function pinSystemTime(epochMs: number): void {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(epochMs);
}
afterEach(() => {
  vi.useRealTimers();
});
/** The largest value Math.random can return. */
const ALMOST_ONE = 1 - Number.EPSILON;

describe('retryDelayMs with an upstream wait', () => {
  it('waits exactly the upstream wait when the jitter draw is 0', () => {
    expect(retryDelayMs(policy, 1, 1_500, pinned(0))).toBe(1_500);
    expect(retryDelayMs(policy, 3, 1_500, pinned(0))).toBe(1_500); // the attempt number does not matter
  });

  it('adds at most 10% jitter to a short wait', () => {
    expect(retryDelayMs(policy, 1, 1_000, pinned(0.5))).toBe(1_050);
    expect(retryDelayMs(policy, 1, 1_000, pinned(ALMOST_ONE))).toBe(1_100);
    expect(retryDelayMs(policy, 1, 200, pinned(ALMOST_ONE))).toBe(220);
  });

  it('adds at most 250 ms of jitter to a long wait', () => {
    expect(retryDelayMs(policy, 1, 60_000, pinned(0.5))).toBe(60_125);
    expect(retryDelayMs(policy, 1, 60_000, pinned(ALMOST_ONE))).toBe(60_250);
  });

  it('never waits less than the upstream asked, nor more than the jitter bound, for any draw', () => {
    for (const wait of [0, 1, 7, 999, 2_500, 2_501, 30_000]) {
      for (const draw of [0, 0.1, 0.33, 0.5, 0.77, 0.999, ALMOST_ONE]) {
        const delay = retryDelayMs(policy, 2, wait, pinned(draw));
        expect(delay).toBeGreaterThanOrEqual(wait);
        expect(delay).toBeLessThanOrEqual(Math.ceil(wait + Math.min(250, wait * 0.1)));
        expect(Number.isInteger(delay)).toBe(true);
      }
    }
  });

  it('rounds a fractional wait up to whole milliseconds', () => {
    expect(retryDelayMs(policy, 1, 10.2, pinned(0))).toBe(11);
  });

  it('an upstream wait of 0 means no wait at all (not a backoff step)', () => {
    expect(retryDelayMs(policy, 1, 0, pinned(ALMOST_ONE))).toBe(0);
  });
});

describe('retryDelayMs without an upstream wait (exponential backoff, full jitter)', () => {
  it('doubles the ceiling with each attempt', () => {
    const top = pinned(1);
    expect([1, 2, 3, 4, 5].map((attempt) => retryDelayMs(policy, attempt, undefined, top))).toEqual([100, 200, 400, 800, 1_600]);
  });

  it('scales the ceiling by the random draw (full jitter)', () => {
    const half = pinned(0.5);
    expect([1, 2, 3].map((attempt) => retryDelayMs(policy, attempt, undefined, half))).toEqual([50, 100, 200]);
    expect(retryDelayMs(policy, 3, undefined, pinned(0))).toBe(0);
    expect(retryDelayMs(policy, 2, undefined, pinned(0.251))).toBe(Math.ceil(200 * 0.251));
  });

  it('follows the policy base delay', () => {
    const slow: RetryPolicy = { ...policy, baseDelayMs: 250 };
    expect(retryDelayMs(slow, 1, undefined, pinned(1))).toBe(250);
    expect(retryDelayMs(slow, 3, undefined, pinned(1))).toBe(1_000);
  });

  it('stays within [0, base * 2^(attempt-1)] for many random draws', () => {
    const random = seeded(42);
    for (let attempt = 1; attempt <= 6; attempt++) {
      for (let i = 0; i < 50; i++) {
        const delay = retryDelayMs(policy, attempt, undefined, random);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(100 * 2 ** (attempt - 1));
      }
    }
  });

  it('has sensible defaults', () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({ maxAttempts: 3, maxTotalWaitMs: 2_000, baseDelayMs: 100 });
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2025, 0, 15, 12, 0, 0); // Wed, 15 Jan 2025 12:00:00 GMT

  it('reads delta-seconds as milliseconds', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('1', now)).toBe(1_000);
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 3 ', now)).toBe(3_000);
  });

  it('reads an IMF-fixdate relative to now', () => {
    expect(parseRetryAfter('Wed, 15 Jan 2025 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 15 Jan 2025 13:00:00 GMT', now)).toBe(3_600_000);
    expect(parseRetryAfter('Thu, 16 Jan 2025 12:00:00 GMT', now)).toBe(86_400_000);
  });

  it('reads the obsolete RFC 850 date form too', () => {
    expect(parseRetryAfter('Wednesday, 15-Jan-25 12:00:10 GMT', now)).toBe(10_000);
  });

  // BUG (retry.ts parseRetryAfter): the asctime form has no zone and RFC 9110 §5.6.7 says it is UTC,
  // but Date.parse reads a zone-less date in the process's local time zone. Under TZ=America/New_York,
  // 'Wed Jan 15 12:00:10 2025' gives 18_010_000 ms (5 h 10 s) instead of 10_000 ms.
  it('reads the obsolete asctime date form as UTC whatever the local time zone', () => {
    const saved = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(parseRetryAfter('Wed Jan 15 12:00:10 2025', now)).toBe(10_000);
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('clamps a date in the past to 0', () => {
    expect(parseRetryAfter('Wed, 15 Jan 2025 11:59:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', now)).toBe(0);
  });

  it('uses the current time when no now is given', () => {
    pinSystemTime(now);
    expect(parseRetryAfter('Wed, 15 Jan 2025 12:01:00 GMT')).toBe(60_000);
  });

  it('reads a two-digit RFC 850 year relative to now: more than 50 years ahead is the past century', () => {
    expect(parseRetryAfter('Wednesday, 01-Jan-70 00:00:00 GMT', now)).toBe(Date.UTC(2070, 0, 1) - now);
    expect(parseRetryAfter('Thursday, 01-Jan-76 00:00:00 GMT', now)).toBe(0); // 1976
    const in1990 = Date.UTC(1990, 0, 1);
    expect(parseRetryAfter('Sunday, 01-Jan-40 00:00:00 GMT', in1990)).toBe(Date.UTC(2040, 0, 1) - in1990);
    expect(parseRetryAfter('Monday, 01-Jan-45 00:00:00 GMT', in1990)).toBe(0); // 1945
  });

  it('gives undefined for a missing or empty header', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('   ', now)).toBeUndefined();
  });

  it('gives undefined for garbage', () => {
    for (const value of ['soon', 'later', '30s', '1e3', '0x10', 'NaN', 'Infinity', 'Wed, 99 Foo 2025']) {
      expect(parseRetryAfter(value, now), value).toBeUndefined();
    }
  });

  // BUG (retry.ts parseRetryAfter): anything that is not delta-seconds goes to V8's lenient
  // Date.parse, which accepts strings that are not HTTP-dates at all ('1.5' -> 5 Jan 2001,
  // '-1' -> 1 Jan 2001, 'abc 12' -> 1 Dec 2001, '+5' -> 1 May 2001). Each becomes a "date in the
  // past", so the header is read as "retry immediately" (0 ms) instead of being ignored.
  it('gives undefined for garbage that V8 Date.parse would take as a date (fractional, signed, words+number)', () => {
    for (const value of ['1.5', '-1', '+5', 'abc 12', 'later 7']) {
      expect(parseRetryAfter(value, now), value).toBeUndefined();
    }
  });
});

describe('parseResetEpochSeconds', () => {
  const now = 1_700_000_000_000;

  it('reads epoch seconds as milliseconds from now', () => {
    expect(parseResetEpochSeconds('1700000060', now)).toBe(60_000);
    expect(parseResetEpochSeconds('1700000001', now)).toBe(1_000);
    expect(parseResetEpochSeconds(' 1700000005 ', now)).toBe(5_000);
  });

  it('measures from a now that is not on a whole second', () => {
    expect(parseResetEpochSeconds('1700000001', now + 250)).toBe(750);
  });

  it('clamps a reset in the past to 0', () => {
    expect(parseResetEpochSeconds('1700000000', now)).toBe(0);
    expect(parseResetEpochSeconds('1600000000', now)).toBe(0);
    expect(parseResetEpochSeconds('0', now)).toBe(0);
  });

  it('uses the current time when no now is given', () => {
    pinSystemTime(now + 250);
    expect(parseResetEpochSeconds('1700000030')).toBe(29_750);
  });

  it('gives undefined for a missing, empty or non-integer value', () => {
    for (const value of [undefined, '', '  ', 'soon', '1700000060.5', '-1', '1e9', 'Wed, 15 Jan 2025 12:00:00 GMT']) {
      expect(parseResetEpochSeconds(value, now), String(value)).toBeUndefined();
    }
  });
});
