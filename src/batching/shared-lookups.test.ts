import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { ManualClock, settle } from '../../test/support/manual-clock.js';
import { MemoryCache } from '../cache/memory-cache.js';
import type { FieldSet, Lookup, ProviderId } from '../providers/provider.js';
import { ProviderError, WorkAbandoned } from '../upstream/errors.js';
import { type CachePolicy, type CallerCredential, type LookupCall, type RequestSink, SharedLookups } from './shared-lookups.js';

/**
 * The shared layer on its own: a lookup whose "upstream" is a function that records each call, a
 * manual clock for the coalescing window and the cache's time, and the in-memory cache.
 */

const PROVIDER: ProviderId = { name: 'demo', label: 'Demo' };
type Row = { id: string; fields: FieldSet };

interface Upstream {
  calls: Array<{ keys: string[]; fields: FieldSet; credential: string | undefined; signal: AbortSignal }>;
  /** What the next calls answer: a row per known key (ids below 1000), or a thrown error. */
  fail?: ProviderError;
  /** Calls wait for this before answering, when set. */
  gate?: Promise<void>;
}

function lookupOn(upstream: Upstream, maxBatchSize = 3): Lookup<never, Row> {
  return {
    provider: PROVIDER,
    name: 'users',
    key: { isValid: () => true, expected: 'an id' },
    maxBatchSize: () => maxBatchSize,
    fields: () => [],
    async fetch(_client, keys, scope) {
      upstream.calls.push({ keys: [...keys], fields: scope.fields, credential: scope.credential?.token, signal: scope.signal });
      await upstream.gate;
      if (scope.signal.aborted) throw scope.signal.reason;
      if (upstream.fail) throw upstream.fail;
      const found = new Map<string, Row | ProviderError>();
      for (const key of keys) if (Number(key) < 1000) found.set(key, { id: key, fields: scope.fields });
      return found;
    },
  };
}

const POLICY: CachePolicy = { enabled: true, ttlMs: 60_000, missingTtlMs: 5_000, staleMs: 600_000 };

function setUp(options: { windowMs?: number; policy?: CachePolicy; maxBatchSize?: number } = {}) {
  const clock = new ManualClock();
  const upstream: Upstream = { calls: [] };
  const cache = new MemoryCache(1 << 24, () => clock.wallNow());
  const shared = new SharedLookups({
    cache,
    policy: () => options.policy ?? POLICY,
    windowMs: options.windowMs ?? 2,
    clock,
    logger: pino({ level: 'silent' }),
  });
  const lookup = lookupOn(upstream, options.maxBatchSize);
  return { clock, upstream, cache, shared, lookup };
}

interface Request extends RequestSink {
  controller: AbortController;
  stale: Array<{ key: string; ageSeconds: number }>;
}

function request(): Request {
  const controller = new AbortController();
  const stale: Request['stale'] = [];
  return {
    controller,
    stale,
    signal: controller.signal,
    prime: () => {},
    noteStale: (_provider, key, ageSeconds) => stale.push({ key, ageSeconds }),
  };
}

function callOf(lookup: Lookup<never, Row>, req: Request, fields: FieldSet = [], credential?: CallerCredential): LookupCall<Row> {
  return { lookup, client: undefined, partition: '', credential, fields, request: req };
}

/** Settles loads that wait for the coalescing window: moves the clock past it. */
async function flushWindow(clock: ManualClock, ...loads: Array<Promise<unknown>>): Promise<void> {
  await clock.advance(2);
  await Promise.allSettled(loads);
}

describe('SharedLookups', () => {
  it('stores the records a call brought along in one write per lookup and field set, not one per record', async () => {
    const { clock, upstream, cache, shared, lookup } = setUp();
    const other: Lookup<never, Row> = { ...lookupOn(upstream), name: 'others' };
    const priming: Lookup<never, Row> = {
      ...lookup,
      async fetch(client, keys, scope) {
        const found = await lookup.fetch(client, keys, scope);
        for (const key of ['101', '102', '103']) scope.prime(other, key, { id: key, fields: ['a'] }, ['a']);
        scope.prime(other, '104', { id: '104', fields: ['b'] }, ['b']);
        return found;
      },
    };
    const writes = vi.spyOn(cache, 'set');
    const loading = shared.load(callOf(priming, request()), ['1']);
    await flushWindow(clock, loading);
    // The call's own answers, then 101-103 (fields a) together, then 104 (fields b).
    expect(writes.mock.calls.map(([entries]) => entries.map(([place]) => place.split('|').at(-1)))).toEqual([
      ['1'],
      ['101', '102', '103'],
      ['104'],
    ]);
  });

  it('a request already gone asks for nothing and leaves no coalescing group behind (one per caller scope would pile up)', async () => {
    const { upstream, shared, lookup } = setUp();
    for (let i = 0; i < 20; i++) {
      const gone = request();
      gone.controller.abort();
      const credential = { token: `token-${i}`, scope: `scope-${i}` };
      await expect(shared.load(callOf(lookup, gone, [], credential), ['1'])).rejects.toBeInstanceOf(ProviderError);
    }
    expect(upstream.calls).toEqual([]);
    expect(shared.groupCount).toBe(0);
  });

  it('coalesces concurrent requests for overlapping keys into ceil(distinct / chunk) calls, each answered with its own keys', async () => {
    const { clock, upstream, shared, lookup } = setUp();
    const a = shared.load(callOf(lookup, request()), ['1', '2', '3']);
    const b = shared.load(callOf(lookup, request()), ['2', '3', '4']);
    const c = shared.load(callOf(lookup, request()), ['4', '5']);
    await flushWindow(clock, a, b, c);
    // 5 distinct keys, chunks of 3: 2 calls, the first of which went as soon as it was full.
    expect(upstream.calls.map((call) => call.keys)).toEqual([
      ['1', '2', '3'],
      ['4', '5'],
    ]);
    expect([...(await a).keys()]).toEqual(['1', '2', '3']);
    expect([...(await b).keys()]).toEqual(['2', '3', '4']);
    expect([...(await c).keys()]).toEqual(['4', '5']);
  });

  it('sends a full chunk at once, without waiting for the window', async () => {
    const { upstream, shared, lookup } = setUp({ windowMs: 1000 });
    const loading = shared.load(callOf(lookup, request()), ['1', '2', '3']);
    await settle();
    expect(upstream.calls).toHaveLength(1);
    await loading;
  });

  it('lets a key already on its way be awaited, not asked again', async () => {
    const { clock, upstream, shared, lookup } = setUp();
    let open!: () => void;
    upstream.gate = new Promise((resolve) => (open = resolve));
    const first = shared.load(callOf(lookup, request()), ['1']);
    await clock.advance(2);
    expect(upstream.calls).toHaveLength(1);
    const second = shared.load(callOf(lookup, request()), ['1']);
    await clock.advance(2);
    open();
    await Promise.all([first, second]);
    expect(upstream.calls).toHaveLength(1);
    expect((await second).get('1')).toEqual({ id: '1', fields: [] });
  });

  it('does not join a call in flight that lacks a field the request needs', async () => {
    const { clock, upstream, shared, lookup } = setUp();
    let open!: () => void;
    upstream.gate = new Promise((resolve) => (open = resolve));
    const narrow = shared.load(callOf(lookup, request(), ['a']), ['1']);
    await clock.advance(2);
    const wide = shared.load(callOf(lookup, request(), ['a', 'b']), ['1']);
    await clock.advance(2);
    open();
    await Promise.all([narrow, wide]);
    expect(upstream.calls.map((call) => call.fields)).toEqual([['a'], ['a', 'b']]);
  });

  it('answers from the cache when the cached fields cover the need, and grows the entry with the union otherwise', async () => {
    const { clock, upstream, shared, lookup } = setUp();
    await clock.run(shared.load(callOf(lookup, request(), ['a']), ['1', '2']));
    await clock.run(shared.load(callOf(lookup, request(), []), ['1', '2']));
    await clock.run(shared.load(callOf(lookup, request(), ['a']), ['2']));
    expect(upstream.calls).toHaveLength(1);
    // A field the cache lacks: one call, with the union, and the entry now answers both.
    const grown = await clock.run(shared.load(callOf(lookup, request(), ['b']), ['1']));
    expect(upstream.calls.map((call) => call.fields)).toEqual([['a'], ['a', 'b']]);
    expect(grown.get('1')).toEqual({ id: '1', fields: ['a', 'b'] });
    await clock.run(shared.load(callOf(lookup, request(), ['a', 'b']), ['1']));
    expect(upstream.calls).toHaveLength(2);
  });

  it('keeps a NOT_FOUND for the missing-answer time only', async () => {
    const { clock, upstream, shared, lookup } = setUp();
    const first = await clock.run(shared.load(callOf(lookup, request()), ['5000']));
    expect((first.get('5000') as ProviderError).code).toBe('NOT_FOUND');
    await clock.run(shared.load(callOf(lookup, request()), ['5000']));
    expect(upstream.calls).toHaveLength(1);
    await clock.advance(POLICY.missingTtlMs);
    await clock.run(shared.load(callOf(lookup, request()), ['5000']));
    expect(upstream.calls).toHaveLength(2);
  });

  it.each(['RATE_LIMITED', 'UPSTREAM_UNAVAILABLE'] as const)(
    'serves an expired entry within the stale window when the upstream answers %s, and notes it',
    async (code) => {
      const { clock, upstream, shared, lookup } = setUp();
      await clock.run(shared.load(callOf(lookup, request()), ['1']));
      await clock.advance(POLICY.ttlMs + 30_000);
      upstream.fail = new ProviderError({ code, provider: PROVIDER });
      const req = request();
      const answers = await clock.run(shared.load(callOf(lookup, req), ['1', '2']));
      expect(answers.get('1')).toEqual({ id: '1', fields: [] });
      expect((answers.get('2') as ProviderError).code).toBe(code); // never cached: nothing to serve
      expect(req.stale).toEqual([{ key: '1', ageSeconds: 90 }]);
      // Past the stale window, the error is the answer.
      await clock.advance(POLICY.staleMs);
      const late = await clock.run(shared.load(callOf(lookup, request()), ['1']));
      expect((late.get('1') as ProviderError).code).toBe(code);
    },
  );

  it('does not serve stale entries for answers about the user (NOT_FOUND) or the credentials (UNAUTHENTICATED)', async () => {
    const { clock, upstream, shared, lookup } = setUp();
    await clock.run(shared.load(callOf(lookup, request()), ['1']));
    await clock.advance(POLICY.ttlMs + 1);
    upstream.fail = new ProviderError({ code: 'UNAUTHENTICATED', provider: PROVIDER });
    const answers = await clock.run(shared.load(callOf(lookup, request()), ['1']));
    expect((answers.get('1') as ProviderError).code).toBe('UNAUTHENTICATED');
  });

  it('keeps credential scopes apart: no shared call, no shared cache entry', async () => {
    const { clock, upstream, shared, lookup } = setUp();
    const alice = { token: 'alice-token', scope: 'hash-a' };
    const bob = { token: 'bob-token', scope: 'hash-b' };
    const a = shared.load(callOf(lookup, request(), [], alice), ['1']);
    const b = shared.load(callOf(lookup, request(), [], bob), ['1']);
    await flushWindow(clock, a, b);
    expect(upstream.calls.map((call) => call.credential).sort()).toEqual(['alice-token', 'bob-token']);
    await clock.run(shared.load(callOf(lookup, request(), [], alice), ['1']));
    await clock.run(shared.load(callOf(lookup, request(), [], undefined), ['1']));
    expect(upstream.calls.map((call) => call.credential)).toEqual(['alice-token', 'bob-token', undefined]);
  });

  it('a request that leaves stops waiting alone; the call goes on for the others', async () => {
    const { clock, upstream, shared, lookup } = setUp();
    let open!: () => void;
    upstream.gate = new Promise((resolve) => (open = resolve));
    const leaving = request();
    const staying = request();
    const left = shared.load(callOf(lookup, leaving), ['1', '2']);
    const stays = shared.load(callOf(lookup, staying), ['2']);
    await clock.advance(2);
    leaving.controller.abort(new WorkAbandoned('DEADLINE_EXCEEDED', 'deadline passed'));
    await expect(left).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(upstream.calls[0]!.signal.aborted).toBe(false);
    open();
    expect((await stays).get('2')).toEqual({ id: '2', fields: [] });
  });

  it('drops a call no request waits for any more', async () => {
    const { clock, upstream, shared, lookup } = setUp();
    upstream.gate = new Promise(() => {});
    const only = request();
    const loading = shared.load(callOf(lookup, only), ['1']);
    await clock.advance(2);
    only.controller.abort(new WorkAbandoned('UPSTREAM_UNAVAILABLE', 'client gone'));
    await expect(loading).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(upstream.calls[0]!.signal.aborted).toBe(true);
  });

  it('a request that leaves before its keys went takes them out of the next call', async () => {
    const { clock, upstream, shared, lookup } = setUp();
    const leaving = request();
    const left = shared.load(callOf(lookup, leaving), ['7']).catch((error: unknown) => error);
    const stays = shared.load(callOf(lookup, request()), ['8']);
    leaving.controller.abort(new WorkAbandoned('UPSTREAM_UNAVAILABLE', 'client gone'));
    await flushWindow(clock, left, stays);
    expect(await left).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(upstream.calls.map((call) => call.keys)).toEqual([['8']]);
  });

  it('reports a whole-call failure at every key of every request in it', async () => {
    const { clock, upstream, shared, lookup } = setUp({ policy: { ...POLICY, enabled: false } });
    upstream.fail = new ProviderError({ code: 'RATE_LIMITED', provider: PROVIDER, retryAfter: 7 });
    const a = shared.load(callOf(lookup, request()), ['1']);
    const b = shared.load(callOf(lookup, request()), ['2']);
    await flushWindow(clock, a, b);
    expect(upstream.calls).toHaveLength(1);
    expect((await a).get('1')).toMatchObject({ code: 'RATE_LIMITED', id: '1' });
    expect((await b).get('2')).toMatchObject({ code: 'RATE_LIMITED', id: '2' });
  });

  it('with caching off, still coalesces, and keeps nothing', async () => {
    const { clock, upstream, cache, shared, lookup } = setUp({ policy: { ...POLICY, enabled: false } });
    await clock.run(shared.load(callOf(lookup, request()), ['1']));
    await clock.run(shared.load(callOf(lookup, request()), ['1']));
    expect(upstream.calls).toHaveLength(2);
    expect(cache.size.entries).toBe(0);
  });

  it('evicts by provider and key, or everything', async () => {
    const { clock, upstream, shared, lookup } = setUp();
    await clock.run(shared.load(callOf(lookup, request()), ['1', '2', '3']));
    expect(await shared.evict('demo', '2')).toBe(1);
    await clock.run(shared.load(callOf(lookup, request()), ['1', '2', '3']));
    expect(upstream.calls.map((call) => call.keys)).toEqual([['1', '2', '3'], ['2']]);
    expect(await shared.evict()).toBe(3);
  });

  it('treats an entry its codec cannot read as a miss', async () => {
    const { clock, upstream, shared, lookup } = setUp();
    let readable = true;
    const coded: Lookup<never, Row> = {
      ...lookup,
      codec: {
        encode: (row) => JSON.stringify(row),
        decode: (stored) => {
          if (!readable) throw new TypeError('another version');
          return JSON.parse(stored as string) as Row;
        },
      },
    };
    await clock.run(shared.load(callOf(coded, request()), ['1']));
    expect((await clock.run(shared.load(callOf(coded, request()), ['1']))).get('1')).toEqual({ id: '1', fields: [] });
    expect(upstream.calls).toHaveLength(1);
    readable = false;
    await clock.run(shared.load(callOf(coded, request()), ['1']));
    expect(upstream.calls).toHaveLength(2);
  });
});
