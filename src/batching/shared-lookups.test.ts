import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryCache } from '../cache/memory-cache.js';
import { IncompleteRecord, ProviderError } from '../core/errors.js';
import { ManualClock } from '../testing/manual-clock.js';
import type { CachePolicy } from './cache-triage.js';
import { callOf, lookupOn, PROVIDER, type Row, request, type Upstream } from './lookups.test-kit.js';
import { SharedLookups } from './shared-lookups.js';

/**
 * The shared layer assembled (cache triage, coalescing, settling): a lookup whose "upstream" records
 * each call, a manual clock for the coalescing window and the cache's time, and the in-memory cache.
 * Each piece has its own tests beside it; these are about how a batch travels through them.
 */

const POLICY: CachePolicy = { enabled: true, ttlMs: 60_000, missingTtlMs: 5_000, staleMs: 600_000 };

function setUp(options: { policy?: CachePolicy } = {}) {
  const clock = new ManualClock();
  const upstream: Upstream = { calls: [] };
  const cache = new MemoryCache(1 << 24, () => clock.wallNow());
  const shared = new SharedLookups({
    cache,
    policy: () => options.policy ?? POLICY,
    windowMs: 2,
    clock,
    logger: pino({ level: 'silent' }),
  });
  return { clock, upstream, cache, shared, lookup: lookupOn(upstream) };
}

const row = (id: string, ...fields: string[]): Row => ({ id, fields });

describe('SharedLookups', () => {
  it('answers from the cache when the cached fields cover the need, and grows the entry with the union otherwise', async () => {
    const { clock, upstream, shared, lookup } = setUp();
    await clock.run(shared.load(callOf(lookup, request(), ['a']), ['1', '2']));
    await clock.run(shared.load(callOf(lookup, request(), []), ['1', '2']));
    await clock.run(shared.load(callOf(lookup, request(), ['a']), ['2']));
    expect(upstream.calls).toHaveLength(1);
    // A field the cache lacks: one call, with the union, and the entry now answers both.
    const grown = await clock.run(shared.load(callOf(lookup, request(), ['b']), ['1']));
    expect(upstream.calls.map((call) => call.fields)).toEqual([['a'], ['a', 'b']]);
    expect(grown.get('1')).toEqual(row('1', 'a', 'b'));
    await clock.run(shared.load(callOf(lookup, request(), ['a', 'b']), ['1']));
    expect(upstream.calls).toHaveLength(2);
  });

  it('sends upstream only the keys the cache cannot answer, and answers each key of the batch', async () => {
    const { clock, upstream, shared, lookup } = setUp();
    await clock.run(shared.load(callOf(lookup, request()), ['1', '2']));
    const answers = await clock.run(shared.load(callOf(lookup, request()), ['2', '3', '1', '5000']));
    expect(upstream.calls.map((call) => call.keys)).toEqual([
      ['1', '2'],
      ['3', '5000'],
    ]);
    expect([...answers.keys()].sort()).toEqual(['1', '2', '3', '5000']);
    expect(answers.get('5000')).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('an entry that grows but whose call fails answers the fields it had, and every other field says why (the issue 17 case)', async () => {
    const { clock, upstream, shared, lookup } = setUp();
    await clock.run(shared.load(callOf(lookup, request(), ['a']), ['1']));
    upstream.fail = new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider: PROVIDER });
    const req = request();
    const answers = await clock.run(shared.load(callOf(lookup, req, ['a', 'b']), ['1']));
    expect(upstream.calls.map((call) => call.fields)).toEqual([['a'], ['a', 'b']]);
    expect(answers.get('1')).toEqual(row('1', 'a'));
    expect(req.partial).toMatchObject([{ key: '1', fields: ['a'], error: { code: 'UPSTREAM_UNAVAILABLE', id: '1' }, staleSeconds: 0 }]);
  });

  it('with caching off, still coalesces, keeps nothing, and answers an incomplete record for what it has', async () => {
    const { clock, upstream, cache, shared, lookup } = setUp({ policy: { ...POLICY, enabled: false } });
    await clock.run(shared.load(callOf(lookup, request()), ['1']));
    await clock.run(shared.load(callOf(lookup, request()), ['1']));
    expect(upstream.calls).toHaveLength(2);
    expect(cache.size.entries).toBe(0);

    const failure = new ProviderError({ code: 'RATE_LIMITED', provider: PROVIDER, id: '2', retryAfter: 9 });
    upstream.answers = new Map([['2', new IncompleteRecord(failure, row('2'), [])]]);
    const req = request();
    const answers = await clock.run(shared.load(callOf(lookup, req, ['full']), ['2']));
    expect(answers.get('2')).toEqual(row('2'));
    expect(req.partial).toMatchObject([{ key: '2', fields: [], error: { code: 'RATE_LIMITED', retryAfter: 9 } }]);
    expect(req.partial[0]).not.toHaveProperty('staleSeconds');
  });

  it('normalizes keys that name the same record, across requests', async () => {
    const { clock, upstream, shared } = setUp();
    const lower = lookupOn(upstream, { key: { normalize: (key: string) => key.toLowerCase() } });
    const answers = await clock.run(shared.load(callOf(lower, request()), ['AB', 'ab']));
    expect(upstream.calls.map((call) => call.keys)).toEqual([['ab']]);
    expect([...answers.keys()]).toEqual(['ab']);
  });
});
