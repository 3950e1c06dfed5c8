import { describe, expect, it } from 'vitest';
import type { CacheEntry } from './entry.js';
import { capFreshness, checkEntry, ENTRY_VERSION } from './entry-check.js';

const NOW = Date.UTC(2026, 0, 1);
const PLACE = 'users-subgraph:cache:x|users|||1';
const LIMITS = { ttlMs: 900_000, missingTtlMs: 60_000, staleMs: 3_600_000 };
const good = {
  v: ENTRY_VERSION,
  place: PLACE,
  at: NOW,
  record: { id: '1' },
  fields: ['user.fields=name'],
  freshUntil: NOW + 900_000,
  staleUntil: NOW + 4_500_000,
};

describe('checkEntry: what Redis gives back is an entry of this place, or a miss', () => {
  it('takes an entry of this format written for this place', () => {
    expect(checkEntry(good, PLACE)).toBe(good);
    const missing = { ...good, record: undefined, missing: { code: 'NOT_FOUND', message: 'no such user' } };
    expect(checkEntry(missing, PLACE)).toBe(missing);
  });

  it.each([
    ['not an object', 'text', 'shape'],
    ['an array', [good], 'shape'],
    ['null', null, 'shape'],
    ['another format version (a rolling deploy)', { ...good, v: 0 }, 'version'],
    ['no version (written before entries carried one)', { ...good, v: undefined }, 'version'],
    ['written under another place (another user)', { ...good, place: 'users-subgraph:cache:x|users|||2' }, 'place'],
    ['fields that are not a list of names (covers() threw on it)', { ...good, fields: 5 }, 'shape'],
    ['a field that is not a string', { ...good, fields: [1] }, 'shape'],
    ['a time that is not a number', { ...good, freshUntil: '9999999999999' }, 'shape'],
    ['no time written', { ...good, at: undefined }, 'shape'],
    ['neither a record nor a negative answer', { ...good, record: undefined }, 'shape'],
    ['a negative answer of another code', { ...good, record: undefined, missing: { code: 'UPSTREAM_UNAVAILABLE' } }, 'shape'],
  ])('refuses %s', (_, stored, reason) => {
    expect(checkEntry(stored, PLACE)).toBe(reason);
  });
});

describe("capFreshness: fresh no longer than this deployment's TTLs from when it was written", () => {
  it('believes an entry that claims no more than the TTLs allow', () => {
    expect(capFreshness(good as CacheEntry, LIMITS, NOW + 1_000)).toBe(good);
  });

  it('caps an entry that claims to be fresh for ever', () => {
    const forever = { ...good, freshUntil: NOW + 10 * 365 * 86_400_000, staleUntil: NOW + 20 * 365 * 86_400_000 } as CacheEntry;
    expect(capFreshness(forever, LIMITS, NOW)).toMatchObject({ freshUntil: NOW + 900_000, staleUntil: NOW + 4_500_000 });
  });

  it('counts from now at the latest, whatever time the entry says it was written', () => {
    const future = { ...good, at: NOW + 86_400_000, freshUntil: NOW + 86_400_000 + 900_000 } as CacheEntry;
    expect(capFreshness(future, LIMITS, NOW)).toMatchObject({ freshUntil: NOW + 900_000 });
  });

  it('caps a negative answer by the missing TTL, with no stale time', () => {
    const missing = {
      ...good,
      record: undefined,
      missing: { code: 'NOT_FOUND' as const },
      freshUntil: NOW + 3_600_000,
      staleUntil: NOW + 7_200_000,
    };
    expect(capFreshness(missing as CacheEntry, LIMITS, NOW)).toMatchObject({ freshUntil: NOW + 60_000, staleUntil: NOW + 60_000 });
  });

  it('leaves an entry of this process alone (no time written: it keeps its own)', () => {
    const own: CacheEntry = { record: {}, fields: [], freshUntil: NOW + 10 ** 12, staleUntil: NOW + 10 ** 12 };
    expect(capFreshness(own, LIMITS, NOW)).toBe(own);
  });
});
