import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ProviderError, WorkAbandoned } from '../core/errors.js';
import type { Permit } from '../core/lookup.js';
import type { FieldSet } from '../core/types.js';
import { ManualClock, settle } from '../testing/manual-clock.js';
import { Coalescer } from './coalescer.js';
import type { CallTarget } from './lookup-call.js';
import { callOf, lookupOn, request, type Upstream } from './lookups.test-kit.js';

/**
 * The coalescer on its own: a lookup whose "upstream" records each call, and a manual clock for the
 * coalescing window.
 */

function setUp(options: { windowMs?: number; maxBatchSize?: number } = {}) {
  const clock = new ManualClock();
  const upstream: Upstream = { calls: [] };
  const stored: Array<{ target: CallTarget; fields: FieldSet; keys: string[] }> = [];
  const coalescer = new Coalescer({
    windowMs: options.windowMs ?? 2,
    clock,
    logger: pino({ level: 'silent' }),
    onAnswers: (target, fields, answers) => stored.push({ target, fields, keys: [...answers.keys()] }),
  });
  return { clock, upstream, coalescer, stored, lookup: lookupOn(upstream, { maxBatchSize: options.maxBatchSize }) };
}

/** Settles fetches that wait for the coalescing window: moves the clock past it. */
async function flushWindow(clock: ManualClock, ...fetches: Array<Promise<unknown>>): Promise<void> {
  await clock.advance(2);
  await Promise.allSettled(fetches);
}

describe('Coalescer', () => {
  it('coalesces concurrent requests for overlapping keys into ceil(distinct / chunk) calls, each answered with its own keys', async () => {
    const { clock, upstream, coalescer, lookup } = setUp();
    const a = coalescer.fetch(callOf(lookup, request()), ['1', '2', '3']);
    const b = coalescer.fetch(callOf(lookup, request()), ['2', '3', '4']);
    const c = coalescer.fetch(callOf(lookup, request()), ['4', '5']);
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
    const { upstream, coalescer, lookup } = setUp({ windowMs: 1000 });
    const fetching = coalescer.fetch(callOf(lookup, request()), ['1', '2', '3']);
    await settle();
    expect(upstream.calls).toHaveLength(1);
    await fetching;
  });

  it('lets a key already on its way be awaited, not asked again', async () => {
    const { clock, upstream, coalescer, lookup } = setUp();
    let open!: () => void;
    upstream.gate = new Promise((resolve) => (open = resolve));
    const first = coalescer.fetch(callOf(lookup, request()), ['1']);
    await clock.advance(2);
    expect(upstream.calls).toHaveLength(1);
    const second = coalescer.fetch(callOf(lookup, request()), ['1']);
    await clock.advance(2);
    open();
    await Promise.all([first, second]);
    expect(upstream.calls).toHaveLength(1);
    expect((await second).get('1')).toEqual({ id: '1', fields: [] });
  });

  it('does not join a call in flight that lacks a field the request needs', async () => {
    const { clock, upstream, coalescer, lookup } = setUp();
    let open!: () => void;
    upstream.gate = new Promise((resolve) => (open = resolve));
    const narrow = coalescer.fetch(callOf(lookup, request(), ['a']), ['1']);
    await clock.advance(2);
    const wide = coalescer.fetch(callOf(lookup, request(), ['a', 'b']), ['1']);
    await clock.advance(2);
    open();
    await Promise.all([narrow, wide]);
    expect(upstream.calls.map((call) => call.fields)).toEqual([['a'], ['a', 'b']]);
  });

  it("asks for a key's `grow` fields too, and waits in flight only for a call that has them", async () => {
    const { clock, upstream, coalescer, lookup } = setUp();
    const grown = coalescer.fetch(callOf(lookup, request(), ['a']), ['1', '2'], new Map([['1', ['b']]]));
    await flushWindow(clock, grown);
    expect(upstream.calls.map((call) => call.fields)).toEqual([['a', 'b']]);
    expect((await grown).get('2')).toEqual({ id: '2', fields: ['a', 'b'] });
  });

  it('keeps credential scopes apart: one call each', async () => {
    const { clock, upstream, coalescer, lookup } = setUp();
    const a = coalescer.fetch(callOf(lookup, request(), [], { token: 'alice-token', scope: 'hash-a' }), ['1']);
    const b = coalescer.fetch(callOf(lookup, request(), [], { token: 'bob-token', scope: 'hash-b' }), ['1']);
    await flushWindow(clock, a, b);
    expect(upstream.calls.map((call) => call.credential).sort()).toEqual(['alice-token', 'bob-token']);
  });

  it('a request that leaves stops waiting alone; the call goes on for the others', async () => {
    const { clock, upstream, coalescer, lookup } = setUp();
    let open!: () => void;
    upstream.gate = new Promise((resolve) => (open = resolve));
    const leaving = request();
    const left = coalescer.fetch(callOf(lookup, leaving), ['1', '2']);
    const stays = coalescer.fetch(callOf(lookup, request()), ['2']);
    await clock.advance(2);
    leaving.controller.abort(new WorkAbandoned('DEADLINE_EXCEEDED', 'deadline passed'));
    await expect(left).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(upstream.calls[0]!.signal.aborted).toBe(false);
    open();
    expect((await stays).get('2')).toEqual({ id: '2', fields: [] });
  });

  it('drops a call no request waits for any more', async () => {
    const { clock, upstream, coalescer, lookup } = setUp();
    upstream.gate = new Promise(() => {});
    const only = request();
    const fetching = coalescer.fetch(callOf(lookup, only), ['1']);
    await clock.advance(2);
    only.controller.abort(new WorkAbandoned('UPSTREAM_UNAVAILABLE', 'client gone'));
    await expect(fetching).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(upstream.calls[0]!.signal.aborted).toBe(true);
  });

  it('a request that leaves before its keys went takes them out of the next call', async () => {
    const { clock, upstream, coalescer, lookup } = setUp();
    const leaving = request();
    const left = coalescer.fetch(callOf(lookup, leaving), ['7']).catch((error: unknown) => error);
    const stays = coalescer.fetch(callOf(lookup, request()), ['8']);
    leaving.controller.abort(new WorkAbandoned('UPSTREAM_UNAVAILABLE', 'client gone'));
    await flushWindow(clock, left, stays);
    expect(await left).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(upstream.calls.map((call) => call.keys)).toEqual([['8']]);
  });

  it('asks once for a key two waiting requests need, with the fields of both, and answers each request its own keys', async () => {
    const { clock, upstream, coalescer, lookup } = setUp({ maxBatchSize: 10 });
    const narrow = coalescer.fetch(callOf(lookup, request(), ['a']), ['1', '2']);
    const wide = coalescer.fetch(callOf(lookup, request(), ['b']), ['2', '3']);
    const same = coalescer.fetch(callOf(lookup, request(), ['a']), ['4']);
    await flushWindow(clock, narrow, wide, same);
    expect(upstream.calls.map((call) => [call.keys, call.fields])).toEqual([
      [
        ['1', '2', '3', '4'],
        ['a', 'b'],
      ],
    ]);
    expect([...(await narrow).keys()]).toEqual(['1', '2']);
    expect([...(await wide).keys()]).toEqual(['2', '3']);
    expect((await wide).get('2')).toEqual({ id: '2', fields: ['a', 'b'] });
  });

  it('a request that leaves before a key it shares went leaves the key in the call for the other', async () => {
    const { clock, upstream, coalescer, lookup } = setUp();
    const leaving = request();
    const left = coalescer.fetch(callOf(lookup, leaving), ['7', '8']).catch((error: unknown) => error);
    const stays = coalescer.fetch(callOf(lookup, request()), ['7']);
    leaving.controller.abort(new WorkAbandoned('UPSTREAM_UNAVAILABLE', 'client gone'));
    await flushWindow(clock, left, stays);
    expect(await left).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(upstream.calls.map((call) => call.keys)).toEqual([['7']]);
    expect((await stays).get('7')).toEqual({ id: '7', fields: [] });
  });

  it('a request already gone asks for nothing and leaves no group behind (one per caller scope would pile up)', async () => {
    const { upstream, coalescer, lookup } = setUp();
    for (let i = 0; i < 20; i++) {
      const gone = request();
      gone.controller.abort();
      const credential = { token: `token-${i}`, scope: `scope-${i}` };
      await expect(coalescer.fetch(callOf(lookup, gone, [], credential), ['1'])).rejects.toBeInstanceOf(ProviderError);
    }
    expect(upstream.calls).toEqual([]);
    expect(coalescer.groupCount).toBe(0);
  });

  it('reports a whole-call failure at every key of every request in it, and a key left out as NOT_FOUND', async () => {
    const { clock, upstream, coalescer, lookup } = setUp();
    upstream.fail = new ProviderError({ code: 'RATE_LIMITED', provider: lookup.lookup.provider, retryAfter: 7 });
    const a = coalescer.fetch(callOf(lookup, request()), ['1']);
    const b = coalescer.fetch(callOf(lookup, request()), ['2']);
    await flushWindow(clock, a, b);
    expect(upstream.calls).toHaveLength(1);
    expect((await a).get('1')).toMatchObject({ code: 'RATE_LIMITED', id: '1', retryAfter: 7 });
    expect((await b).get('2')).toMatchObject({ code: 'RATE_LIMITED', id: '2' });
    delete upstream.fail;
    const missing = coalescer.fetch(callOf(lookup, request()), ['5000']);
    await flushWindow(clock, missing);
    expect((await missing).get('5000')).toMatchObject({ code: 'NOT_FOUND', id: '5000' });
  });

  it("hands each call's answers, then the records that came along, to onAnswers once: one group per lookup and field set", async () => {
    const { clock, upstream, coalescer, lookup, stored } = setUp();
    const other = lookupOn(upstream, { name: 'others', runtime: lookup.runtime }).lookup;
    const priming = lookupOn(upstream, {
      runtime: lookup.runtime,
      async fetch(_keys, scope, answer) {
        const found = await answer();
        for (const key of ['101', '102', '103']) scope.prime(other, key, { id: key, fields: ['a'] }, ['a']);
        scope.prime(other, '104', { id: '104', fields: ['b'] }, ['b']);
        return found;
      },
    });
    const a = coalescer.fetch(callOf(priming, request()), ['1']);
    const b = coalescer.fetch(callOf(priming, request()), ['1']);
    await flushWindow(clock, a, b);
    expect(stored.map(({ target, fields, keys }) => [target.lookup.name, fields, keys])).toEqual([
      ['users', [], ['1']],
      ['others', ['a'], ['101', '102', '103']],
      ['others', ['b'], ['104']],
    ]);
  });
});

/** A budget that never allows a partial call at its pace: keys wait to fill, up to the hold, then go due. */
const scarce = (kind: 'window' | 'paced'): Permit =>
  kind === 'paced' ? { granted: false, retryInMs: 60_000, exhausted: false } : { granted: true };

/** A coalescer whose lookup's calls have `permit` for a budget (a window of 2 ms, calls of up to 10 keys). */
function budgeted(permit: (kind: 'window' | 'paced') => Permit, hold: { maxHoldMs: number; maxQueuedKeys: number }) {
  const clock = new ManualClock();
  const upstream: Upstream = { calls: [] };
  const lookup = lookupOn(upstream, { maxBatchSize: 10, budget: () => ({ take: permit }) });
  const coalescer = new Coalescer({ windowMs: 2, hold, clock, logger: pino({ level: 'silent' }) });
  return { clock, upstream, lookup, coalescer };
}

describe('the queue cap with a budget (UPSTREAM_MAX_QUEUED_IDS)', () => {
  /** Queues of at most two keys, a hold of 2 s. */
  const capped = (permit: (kind: 'window' | 'paced') => Permit) => budgeted(permit, { maxHoldMs: 2_000, maxQueuedKeys: 2 });

  it.each([
    [
      'with the window spent, a key past the cap is told to retry at its reset',
      () => ({ granted: false, retryInMs: 90_000, exhausted: true }),
      90,
    ],
    ['with calls left but no pace for a partial one, a key past the cap is told to retry after a hold', scarce, 2],
  ] as const)('%s', async (_name, permit: (kind: 'window' | 'paced') => Permit, retryAfter) => {
    const { clock, lookup, coalescer } = capped(permit);
    const held = coalescer.fetch(callOf(lookup, request()), ['1', '2']);
    await clock.advance(2);
    const over = await coalescer.fetch(callOf(lookup, request()), ['3']);
    expect(over.get('3')).toMatchObject({ code: 'RATE_LIMITED', retryAfter });
    await clock.advance(2_000);
    await held;
  });

  it('a key past the cap answers RATE_LIMITED at once, without a call; the keys queued wait on, and a key already queued still joins', async () => {
    const { clock, upstream, lookup, coalescer } = capped(scarce);
    const held = coalescer.fetch(callOf(lookup, request()), ['1', '2']);
    await clock.advance(2);
    const over = await coalescer.fetch(callOf(lookup, request()), ['3']);
    expect(clock.now()).toBe(2);
    expect(over.get('3')).toMatchObject({ code: 'RATE_LIMITED', id: '3' });
    expect(upstream.calls).toEqual([]);
    const mixed = coalescer.fetch(callOf(lookup, request()), ['4', '2']);
    await clock.advance(1_998);
    expect(upstream.calls.map((call) => call.keys)).toEqual([['1', '2']]);
    const answers = await mixed;
    expect(answers.get('4')).toMatchObject({ code: 'RATE_LIMITED', id: '4' });
    expect(answers.get('2')).toEqual({ id: '2', fields: [] });
    expect([...(await held).values()]).toEqual([
      { id: '1', fields: [] },
      { id: '2', fields: [] },
    ]);
    // Below the cap again: a new key queues.
    const later = coalescer.fetch(callOf(lookup, request()), ['5']);
    await clock.advance(2_000);
    expect((await later).get('5')).toEqual({ id: '5', fields: [] });
  });
});

describe('a request that leaves while its keys are held for the budget', () => {
  const held = () => budgeted(scarce, { maxHoldMs: 1_000, maxQueuedKeys: 100 });

  it('takes its keys out of the queue: the due call carries only those another request still waits for', async () => {
    const { clock, upstream, lookup, coalescer } = held();
    const leaving = request();
    const left = coalescer.fetch(callOf(lookup, leaving), ['1', '2']).catch((error: unknown) => error);
    const stays = coalescer.fetch(callOf(lookup, request()), ['2', '3']);
    await clock.advance(500);
    expect(coalescer.has(callOf(lookup, leaving), '1')).toBe(true);
    leaving.controller.abort(new WorkAbandoned('UPSTREAM_UNAVAILABLE', 'client gone'));
    expect(await left).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(coalescer.has(callOf(lookup, leaving), '1')).toBe(false);
    expect(coalescer.has(callOf(lookup, leaving), '2')).toBe(true);
    await clock.advance(500);
    expect(upstream.calls.map((call) => call.keys)).toEqual([['2', '3']]);
    expect([...(await stays).keys()]).toEqual(['2', '3']);
  });

  it('the only request leaving: no call goes, and nothing is left waiting', async () => {
    const { clock, upstream, lookup, coalescer } = held();
    const leaving = request();
    const left = coalescer.fetch(callOf(lookup, leaving), ['1']).catch((error: unknown) => error);
    await clock.advance(500);
    leaving.controller.abort(new WorkAbandoned('UPSTREAM_UNAVAILABLE', 'client gone'));
    await left;
    await clock.advance(1_000);
    expect(upstream.calls).toEqual([]);
    expect(coalescer.groupCount).toBe(0);
    expect(clock.pending).toBe(0);
  });
});

describe('one request’s bad key in a shared call (issue 20)', () => {
  /** An upstream that refuses a whole call (a 400 naming no key) whenever it carries key 13. */
  function refusing13() {
    const clock = new ManualClock();
    const upstream: Upstream = { calls: [] };
    const lookup = lookupOn(upstream, {
      maxBatchSize: 10,
      fetch: async (keys, _scope, answer) => {
        if (keys.includes('13')) {
          upstream.calls.push({ keys: [...keys], fields: [], credential: undefined, signal: new AbortController().signal });
          throw new ProviderError({ code: 'BAD_USER_INPUT', provider: lookup.lookup.provider });
        }
        return answer();
      },
    });
    const coalescer = new Coalescer({ windowMs: 2, clock, logger: pino({ level: 'silent' }) });
    return { clock, upstream, lookup, coalescer };
  }

  it('fails only the key the upstream refuses: the call is split until it is found; the others answer', async () => {
    const { clock, upstream, lookup, coalescer } = refusing13();
    const attacker = coalescer.fetch(callOf(lookup, request()), ['13']);
    const other = coalescer.fetch(callOf(lookup, request()), ['1', '2', '3', '4']);
    await flushWindow(clock, attacker, other);
    expect([...(await other).values()]).toEqual(['1', '2', '3', '4'].map((id) => ({ id, fields: [] })));
    expect((await attacker).get('13')).toMatchObject({ code: 'BAD_USER_INPUT', id: '13' });
    // [13,1,2,3,4] refused; [13,1,2] refused, [3,4] answered; [13,1] refused, [2] answered; [13] refused, [1] answered.
    expect(upstream.calls.map((call) => call.keys)).toEqual([
      ['13', '1', '2', '3', '4'],
      ['13', '1', '2'],
      ['3', '4'],
      ['13', '1'],
      ['2'],
      ['13'],
      ['1'],
    ]);
  });

  it('a key found bad is answered BAD_USER_INPUT without a call for a while, then asked again', async () => {
    const { clock, upstream, lookup, coalescer } = refusing13();
    await flushWindow(clock, coalescer.fetch(callOf(lookup, request()), ['13']));
    const calls = upstream.calls.length;
    const replayed = coalescer.fetch(callOf(lookup, request()), ['13', '5']);
    await flushWindow(clock, replayed);
    expect((await replayed).get('13')).toMatchObject({ code: 'BAD_USER_INPUT', id: '13' });
    expect(upstream.calls.slice(calls).map((call) => call.keys)).toEqual([['5']]);
    await clock.advance(10 * 60_000);
    await flushWindow(clock, coalescer.fetch(callOf(lookup, request()), ['13']));
    expect(upstream.calls.at(-1)!.keys).toEqual(['13']);
  });
});
