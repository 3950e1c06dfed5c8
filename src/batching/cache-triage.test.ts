import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { CacheEntry } from '../cache/entry.js';
import { RecordWrites } from '../cache/fetch-claims.js';
import { MemoryCache } from '../cache/memory-cache.js';
import type { RecordCache } from '../cache/record-cache.js';
import { IncompleteRecord, ProviderError } from '../core/errors.js';
import { ManualClock } from '../testing/manual-clock.js';
import { type CachePolicy, CacheTriage } from './cache-triage.js';
import { callOf, lookupOn, PROVIDER, type Row, request } from './lookups.test-kit.js';

/**
 * Cache triage on its own: entries stored with `store`, batches sorted with `visit`, and what a batch
 * answers once its upstream call came back (`settle`), on a manual clock and the in-memory cache.
 */

const POLICY: CachePolicy = { enabled: true, ttlMs: 60_000, missingTtlMs: 5_000, staleMs: 600_000 };

function setUp() {
  const clock = new ManualClock();
  const cache = new MemoryCache(1 << 24, () => clock.wallNow());
  const triage = new CacheTriage({ cache, policy: () => POLICY, clock, logger: pino({ level: 'silent' }) });
  const lookup = lookupOn({ calls: [] });
  const row = (id: string, ...fields: string[]): Row => ({ id, fields });
  return { clock, cache, triage, lookup, row };
}

const failure = (code: ProviderError['code'], id: string) => new ProviderError({ code, provider: PROVIDER, id });

describe('CacheTriage', () => {
  it('answers a fresh entry whose fields cover the need; the others miss, noting the fields to grow with', async () => {
    const { triage, lookup, row } = setUp();
    triage.store(callOf(lookup, request()), ['a', 'b'], new Map([['1', row('1', 'a', 'b')]]));
    triage.store(callOf(lookup, request()), ['a'], new Map([['2', row('2', 'a')]]));
    const { visit, missing } = await triage.visit(callOf(lookup, request(), ['b']), ['1', '2', '3']);
    expect([...visit.results]).toEqual([['1', row('1', 'a', 'b')]]);
    expect(missing).toEqual(['2', '3']);
    expect([...visit.grow]).toEqual([['2', ['a']]]);
  });

  it('keeps a negative answer for the missing-answer time only, whatever the fields; other failures never', async () => {
    const { clock, triage, lookup } = setUp();
    triage.store(
      callOf(lookup, request()),
      [],
      new Map([
        ['5', failure('NOT_FOUND', '5')],
        ['6', failure('SUSPENDED', '6')],
        ['7', failure('UPSTREAM_UNAVAILABLE', '7')],
      ]),
    );
    const { visit, missing } = await triage.visit(callOf(lookup, request(), ['a', 'b']), ['5', '6', '7']);
    expect(missing).toEqual(['7']);
    expect(visit.results.get('5')).toMatchObject({ code: 'NOT_FOUND', id: '5' });
    expect(visit.results.get('6')).toMatchObject({ code: 'SUSPENDED', id: '6' });
    await clock.advance(POLICY.missingTtlMs);
    expect((await triage.visit(callOf(lookup, request()), ['5'])).missing).toEqual(['5']);
  });

  it.each(['RATE_LIMITED', 'UPSTREAM_UNAVAILABLE'] as const)(
    'when the upstream answers %s, an expired entry within its stale window answers the fields it has, and says so',
    async (code) => {
      const { clock, triage, lookup, row } = setUp();
      triage.store(callOf(lookup, request()), ['a'], new Map([['1', row('1', 'a')]]));
      await clock.advance(POLICY.ttlMs + 30_000);
      const req = request();
      const call = callOf(lookup, req, ['a', 'b']);
      const { visit, missing } = await triage.visit(call, ['1', '2']);
      const answers = triage.settle(
        call,
        missing,
        new Map([
          ['1', failure(code, '1')],
          ['2', failure(code, '2')],
        ]),
        visit,
      );
      expect(answers.get('1')).toEqual(row('1', 'a'));
      expect(answers.get('2')).toMatchObject({ code }); // never cached: nothing to serve
      // The record answers field a only: b, which the call needed too, answers the failure.
      expect(req.partial).toEqual([
        {
          lookup: lookup.lookup,
          key: '1',
          record: row('1', 'a'),
          fields: ['a'],
          error: expect.objectContaining({ code, id: '1' }),
          staleSeconds: 90,
        },
      ]);
      // Past the stale window, the error is the answer.
      await clock.advance(POLICY.staleMs);
      const late = await triage.visit(call, ['1']);
      expect(triage.settle(call, late.missing, new Map([['1', failure(code, '1')]]), late.visit).get('1')).toMatchObject({ code });
    },
  );

  it('serves nothing stale for an answer about the user (NOT_FOUND) or the credentials (UNAUTHENTICATED)', async () => {
    const { clock, triage, lookup, row } = setUp();
    triage.store(callOf(lookup, request()), [], new Map([['1', row('1')]]));
    await clock.advance(POLICY.ttlMs + 1);
    for (const code of ['NOT_FOUND', 'UNAUTHENTICATED'] as const) {
      const req = request();
      const call = callOf(lookup, req);
      const { visit, missing } = await triage.visit(call, ['1']);
      expect(triage.settle(call, missing, new Map([['1', failure(code, '1')]]), visit).get('1')).toMatchObject({ code });
      expect(req.partial).toEqual([]);
    }
  });

  it('answers an incomplete record for what it has, unless a stale entry has at least as much', async () => {
    const { clock, triage, lookup, row } = setUp();
    const incomplete = (id: string) => new IncompleteRecord(failure('UPSTREAM_UNAVAILABLE', id), row(id), []);
    // Without an entry (or with the cache off: no visit), the part of the record the upstream gave.
    const req = request();
    const call = callOf(lookup, req, ['full']);
    const answers = triage.settle(call, ['1'], new Map([['1', incomplete('1')]]));
    expect(answers.get('1')).toEqual(row('1'));
    expect(req.partial).toEqual([
      {
        lookup: lookup.lookup,
        key: '1',
        record: row('1'),
        fields: [],
        error: expect.objectContaining({ code: 'UPSTREAM_UNAVAILABLE', id: '1' }),
      },
    ]);
    expect(req.partial[0]!.error).not.toBeInstanceOf(IncompleteRecord);
    // A stale entry fetched with more: it answers instead.
    triage.store(callOf(lookup, request()), ['full'], new Map([['2', row('2', 'full')]]));
    await clock.advance(POLICY.ttlMs + 1);
    const staleReq = request();
    const staleCall = callOf(lookup, staleReq, ['full']);
    const { visit, missing } = await triage.visit(staleCall, ['2']);
    expect(triage.settle(staleCall, missing, new Map([['2', incomplete('2')]]), visit).get('2')).toEqual(row('2', 'full'));
    expect(staleReq.partial).toMatchObject([{ key: '2', fields: ['full'], staleSeconds: 60 }]);
  });

  it('treats an entry its codec cannot read as a miss', async () => {
    const { triage, row } = setUp();
    let readable = true;
    const coded = lookupOn(
      { calls: [] },
      {
        codec: {
          encode: (value) => JSON.stringify(value),
          decode: (stored) => {
            if (!readable) throw new TypeError('another version');
            return JSON.parse(String(stored)) as Row;
          },
        },
      },
    );
    triage.store(callOf(coded, request()), [], new Map([['1', row('1')]]));
    expect((await triage.visit(callOf(coded, request()), ['1'])).visit.results.get('1')).toEqual(row('1'));
    readable = false;
    expect((await triage.visit(callOf(coded, request()), ['1'])).missing).toEqual(['1']);
  });

  it('treats a well-formed entry whose record carries another key, or none, as a miss (issue 20: another user served under a key)', async () => {
    const { triage, row } = setUp();
    const checked = lookupOn({ calls: [] }, { keyOf: (record) => (record as { id?: unknown } | null)?.id as string | undefined });
    // As a corrupted or tampered store would hold them: user 2's record under key 1, and a record of no one under key 3.
    triage.store(
      callOf(checked, request()),
      [],
      new Map<string, Row>([
        ['1', row('2')],
        ['2', row('2')],
        ['3', {} as Row],
      ]),
    );
    const { visit, missing } = await triage.visit(callOf(checked, request()), ['1', '2', '3']);
    expect(missing).toEqual(['1', '3']);
    expect(visit.results.get('2')).toEqual(row('2'));
  });

  it('evicts by provider and key, or everything', async () => {
    const { triage, lookup, row } = setUp();
    triage.store(callOf(lookup, request()), [], new Map(['1', '2', '3'].map((id) => [id, row(id)])));
    expect(await triage.evict('demo', '2')).toBe(1);
    expect((await triage.visit(callOf(lookup, request()), ['1', '2', '3'])).missing).toEqual(['2']);
    expect(await triage.evict()).toBe(2);
  });

  it('tells its writes of each write it sends until it is acknowledged, failed or not: what a release waits for on a Cluster', async () => {
    const { clock, lookup, row } = setUp();
    const memory = new MemoryCache(1 << 24, () => clock.wallNow());
    // A cache whose writes are answered when the test says, the first as written, the second as failed.
    const answers: Array<(ok: boolean) => void> = [];
    const cache: RecordCache = {
      get: (keys) => memory.get(keys),
      evict: (prefix, suffix) => memory.evict(prefix, suffix),
      set: (entries: ReadonlyArray<readonly [string, CacheEntry]>) =>
        new Promise<void>((resolve, reject) => {
          answers.push((ok) => (ok ? resolve(memory.set(entries)) : reject(new Error('OOM'))));
        }),
    };
    const writes = new RecordWrites();
    const triage = new CacheTriage({ cache, policy: () => POLICY, clock, logger: pino({ level: 'silent' }), writes });
    const call = callOf(lookup, request());
    const place = (key: string) => `demo|users|||${key}`;
    triage.store(call, ['a'], new Map([['1', row('1', 'a')]]));
    triage.store(call, ['a'], new Map([['2', row('2', 'a')]]));
    // An answer that is not kept (not about the user) is no write to wait for.
    triage.store(call, ['a'], new Map([['3', failure('RATE_LIMITED', '3')]]));
    expect(writes.size).toBe(2);
    expect(writes.settled([place('3')])).toBeUndefined();
    let settled = false;
    void writes.settled([place('1'), place('2'), place('3')])!.then(() => {
      settled = true;
    });
    answers[0]!(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    expect(writes.settled([place('1')])).toBeUndefined();
    answers[1]!(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(true);
    expect(writes.size).toBe(0);
  });
});
