import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { type CallBudget, NOTHING_TO_SEND, type Permit, type SharedQueue, type SharedTake } from '../core/lookup.js';
import type { FieldSet } from '../core/types.js';
import { ManualClock, settle } from '../testing/manual-clock.js';
import { Coalescer } from './coalescer.js';
import { callOf, lookupOn, request, type Upstream } from './lookups.test-kit.js';
import { HandedOver } from './replica-queue.js';

/**
 * The coalescer with a queue the replicas share (`SharedQueue`; the Redis one is tested in
 * src/upstream/shared-queue.test.ts): what one replica's group parks, hears taken, and carries for others.
 * The "other replica" here is the test, answering the group's questions as Redis would.
 */

class FakeSharedQueue implements SharedQueue {
  readonly parked = new Map<string, FieldSet>();
  /** Keys "another replica" took: `taken` and `take` say so, once. */
  readonly takenByOther = new Set<string>();
  /** What the next permit carries of "other replicas". */
  theirs: Array<{ key: string; fields: FieldSet }> = [];
  permit: (kind: 'window' | 'paced') => Permit = () => ({ granted: true });
  /** Permits taken, of either kind. */
  permits = 0;
  /** When set, a take answers only once it resolves (Redis's round trip). */
  gate: Promise<void> | undefined;

  async park(keys: ReadonlyArray<{ key: string; fields: FieldSet }>): Promise<void> {
    for (const { key, fields } of keys) this.parked.set(key, fields);
  }
  async unpark(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.parked.delete(key);
  }
  async take(kind: 'window' | 'paced', mine: readonly string[]): Promise<SharedTake> {
    await this.gate;
    const takenFromMe = mine.filter((key) => this.takenByOther.delete(key));
    // As the script: a call left with none of its own keys asks for no permit.
    if (takenFromMe.length === mine.length) return { permit: NOTHING_TO_SEND, takenFromMe, theirs: [] };
    const permit = this.permit(kind);
    if (!permit.granted) return { permit, takenFromMe, theirs: [] };
    this.permits++;
    for (const key of mine) this.parked.delete(key);
    const theirs = this.theirs;
    this.theirs = [];
    return { permit, takenFromMe, theirs };
  }
  async taken(parked: readonly string[]): Promise<string[]> {
    return parked.filter((key) => this.takenByOther.delete(key));
  }
}

/** A budget whose pace never allows a partial call: keys wait to fill, up to the hold. */
function scarce(queue: FakeSharedQueue): CallBudget {
  queue.permit = (kind) => (kind === 'paced' ? { granted: false, retryInMs: 60_000, exhausted: false } : { granted: true });
  return { take: (kind) => queue.permit(kind), share: () => queue };
}

function setUp(shares = true) {
  const clock = new ManualClock();
  const queue = new FakeSharedQueue();
  const upstream: Upstream = { calls: [] };
  const lookup = lookupOn(upstream, { maxBatchSize: 10, budget: () => scarce(queue) });
  const coalescer = new Coalescer({
    windowMs: 2,
    hold: { maxHoldMs: 1_000, maxQueuedKeys: 100 },
    shares: () => shares,
    clock,
    logger: pino({ level: 'silent' }),
  });
  return { clock, queue, upstream, lookup, coalescer };
}

describe('Coalescer with a queue the replicas share', () => {
  it('parks the keys it holds, with the fields their requests need; sends them itself when due, unparked', async () => {
    const { clock, queue, upstream, lookup, coalescer } = setUp();
    const answer = coalescer.fetch(callOf(lookup, request(), ['a']), ['1', '2']);
    await clock.advance(10);
    expect([...queue.parked]).toEqual([
      ['1', ['a']],
      ['2', ['a']],
    ]);
    await clock.advance(1_000);
    expect(upstream.calls.map((call) => call.keys)).toEqual([['1', '2']]);
    expect(queue.parked.size).toBe(0);
    expect([...(await answer).keys()]).toEqual(['1', '2']);
  });

  it('a key another replica took answers HandedOver, without a call here; the rest waits on', async () => {
    const { clock, queue, upstream, lookup, coalescer } = setUp();
    const answer = coalescer.fetch(callOf(lookup, request()), ['1', '2']);
    await clock.advance(10);
    queue.takenByOther.add('1');
    await clock.advance(20);
    await clock.advance(1_000);
    const answers = await answer;
    expect(answers.get('1')).toBeInstanceOf(HandedOver);
    expect(answers.get('2')).toEqual({ id: '2', fields: [] });
    expect(upstream.calls.map((call) => call.keys)).toEqual([['2']]);
  });

  it('a call whose keys another replica all took is not made and takes no permit: its requests wait for that answer', async () => {
    const { clock, queue, upstream, lookup, coalescer } = setUp();
    const answer = coalescer.fetch(callOf(lookup, request()), ['1', '2', '3']);
    // Between two of the group's polls (every 20 ms), just before its keys are due: another replica's call took them.
    await clock.advance(990);
    for (const key of ['1', '2', '3']) queue.takenByOther.add(key);
    await clock.advance(10);
    const answers = await answer;
    expect([...answers.values()].every((value) => value instanceof HandedOver)).toBe(true);
    expect(upstream.calls).toEqual([]);
    expect(queue.permits).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it("carries other replicas' keys in its own call, with their fields, and goes on for them when its own request leaves", async () => {
    const { clock, queue, upstream, lookup, coalescer } = setUp();
    let open!: () => void;
    upstream.gate = new Promise((resolve) => (open = resolve));
    queue.theirs = [
      { key: '50', fields: [] },
      { key: '51', fields: ['b'] },
      { key: '52', fields: ['not-a-field-this-lookup-asks'] },
    ];
    const mine = request();
    const answer = coalescer.fetch(callOf(lookup, mine, ['b']), ['1']).catch((error: unknown) => error);
    await clock.advance(1_010);
    // The implausible one (a field this lookup never asks for) is left out: it could make the upstream refuse the call.
    expect(upstream.calls.map((call) => [call.keys, call.fields])).toEqual([[['1', '50', '51'], ['b']]]);
    mine.controller.abort(new Error('client gone'));
    await settle();
    expect(upstream.calls[0]!.signal.aborted).toBe(false);
    open();
    await answer;
  });

  it("a permit's call goes for the other replicas' keys it took along though this replica's own left while it was asked for", async () => {
    const { clock, queue, upstream, lookup, coalescer } = setUp();
    queue.theirs = [{ key: '50', fields: [] }];
    const mine = request();
    await leaveWhileThePermitIsAsked(clock, queue, mine, coalescer.fetch(callOf(lookup, mine), ['1']));
    expect(upstream.calls.map((call) => call.keys)).toEqual([['50']]);
  });

  it('no call goes when its keys left while the permit was asked for', async () => {
    const { clock, queue, upstream, lookup, coalescer } = setUp();
    const mine = request();
    await leaveWhileThePermitIsAsked(clock, queue, mine, coalescer.fetch(callOf(lookup, mine), ['1']));
    expect(upstream.calls).toEqual([]);
    expect(clock.pending).toBe(0);
  });

  it('where answers do not reach the other replicas (no shared cache), nothing is parked', async () => {
    const { clock, queue, lookup, coalescer } = setUp(false);
    const answer = coalescer.fetch(callOf(lookup, request()), ['1']);
    await clock.advance(10);
    expect(queue.parked.size).toBe(0);
    await clock.advance(1_000);
    await answer;
  });

  it('a request that leaves takes its parked keys back', async () => {
    const { clock, queue, lookup, coalescer } = setUp();
    const leaving = request();
    const answer = coalescer.fetch(callOf(lookup, leaving), ['1']).catch((error: unknown) => error);
    await clock.advance(10);
    expect(queue.parked.has('1')).toBe(true);
    leaving.controller.abort(new Error('client gone'));
    await answer;
    await settle();
    expect(queue.parked.size).toBe(0);
  });
});

/**
 * The request `mine` made `answer` with: its key held to its deadline (1 s), then the due call's permit is
 * on its way when the request leaves; the permit is granted once the request is gone.
 */
async function leaveWhileThePermitIsAsked(
  clock: ManualClock,
  queue: { gate: Promise<void> | undefined },
  mine: { controller: AbortController },
  answer: Promise<unknown>,
): Promise<void> {
  const settled = answer.catch((error: unknown) => error);
  await clock.advance(999);
  let open!: () => void;
  queue.gate = new Promise((resolve) => (open = resolve));
  await clock.advance(1);
  mine.controller.abort(new Error('client gone'));
  await settled;
  open();
  await settle();
}
