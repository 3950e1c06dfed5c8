import { describe, expect, it } from 'vitest';
import { type CallBudget, NOTHING_TO_SEND, type Permit } from '../core/lookup.js';
import { ManualClock, settle } from '../testing/manual-clock.js';
import { Planner, type PlannerQueue, type SendReason } from './planner.js';

/** A queue of keys that records what the planner did with them, on the test's clock. */
class RecordingQueue implements PlannerQueue {
  readonly keys: Array<{ key: string; since: number }> = [];
  readonly sent: Array<{ at: number; reason: SendReason; keys: string[] }> = [];
  readonly refused: Array<{ at: number; keys: string[]; retryInMs: number }> = [];
  planner!: Planner;

  constructor(
    private readonly clock: ManualClock,
    private readonly maxBatchSize: number,
  ) {}

  add(...keys: string[]): void {
    for (const key of keys) this.keys.push({ key, since: this.clock.now() });
    this.planner.poke();
  }

  get size(): number {
    return this.keys.length;
  }

  oldestSince(): number | undefined {
    return this.keys[0]?.since;
  }

  sendable(): boolean {
    return this.keys.length > 0;
  }

  send(reason: SendReason): void {
    const taken = this.keys.splice(0, this.maxBatchSize).map((entry) => entry.key);
    this.sent.push({ at: this.clock.now(), reason, keys: taken });
  }

  refuse(since: number, retryInMs: number): void {
    const refused: string[] = [];
    while (this.keys.length > 0 && this.keys[0]!.since <= since) refused.push(this.keys.shift()!.key);
    this.refused.push({ at: this.clock.now(), keys: refused, retryInMs });
  }
}

/** A budget whose answers the test sets, counting what it was asked. */
class ScriptedBudget implements CallBudget {
  readonly asked: Array<'window' | 'paced'> = [];
  constructor(public answer: (kind: 'window' | 'paced') => Permit) {}
  take(kind: 'window' | 'paced'): Permit {
    this.asked.push(kind);
    return this.answer(kind);
  }
}

const ample = (): Permit => ({ granted: true });

function setUp(budget: CallBudget, options: { maxBatchSize?: number; windowMs?: number; maxHoldMs?: number } = {}) {
  const clock = new ManualClock();
  const maxBatchSize = options.maxBatchSize ?? 4;
  const queue = new RecordingQueue(clock, maxBatchSize);
  queue.planner = new Planner(queue, budget, {
    maxBatchSize,
    windowMs: options.windowMs ?? 2,
    maxHoldMs: options.maxHoldMs ?? 1_000,
    clock,
  });
  return { clock, queue };
}

describe('Planner', () => {
  it('holds nothing past the coalescing window when the budget is ample', async () => {
    const { clock, queue } = setUp(new ScriptedBudget(ample));
    queue.add('1', '2');
    await clock.advance(1);
    queue.add('3');
    await clock.advance(1);
    expect(queue.sent).toEqual([{ at: 2, reason: 'paced', keys: ['1', '2', '3'] }]);
    expect(clock.pending).toBe(0);
  });

  it('sends the keys of one turn of the event loop together when the coalescing window is 0', async () => {
    const { clock, queue } = setUp(new ScriptedBudget(ample), { windowMs: 0 });
    queue.add('1');
    queue.add('2');
    await settle();
    expect(queue.sent).toEqual([{ at: 0, reason: 'paced', keys: ['1', '2'] }]);
    queue.add('3');
    await settle();
    expect(queue.sent.map((call) => call.keys)).toEqual([['1', '2'], ['3']]);
    expect(clock.pending).toBe(0);
  });

  it('sends a full call at once, without waiting for the window, and asks the window (not the pace) for it', async () => {
    const budget = new ScriptedBudget(ample);
    const { clock, queue } = setUp(budget);
    queue.add('1', '2', '3', '4', '5');
    await settle();
    expect(queue.sent).toEqual([{ at: 0, reason: 'full', keys: ['1', '2', '3', '4'] }]);
    expect(budget.asked).toEqual(['window']);
    await clock.advance(2);
    expect(queue.sent[1]).toEqual({ at: 2, reason: 'paced', keys: ['5'] });
  });

  it('when the pace cannot afford a call, holds the keys to fill it and sends when it is full', async () => {
    const budget = new ScriptedBudget((kind) => (kind === 'paced' ? { granted: false, retryInMs: 60_000, exhausted: false } : ample()));
    const { clock, queue } = setUp(budget);
    queue.add('1');
    await clock.advance(300);
    queue.add('2', '3');
    await clock.advance(300);
    expect(queue.sent).toEqual([]);
    queue.add('4');
    await settle();
    expect(queue.sent).toEqual([{ at: 600, reason: 'full', keys: ['1', '2', '3', '4'] }]);
  });

  it('sends what waits once the pace allows, before the deadline', async () => {
    let readyAt = 250;
    const { clock, queue } = setUp(
      new ScriptedBudget((kind) =>
        kind === 'paced' && clock.now() < readyAt ? { granted: false, retryInMs: readyAt - clock.now(), exhausted: false } : ample(),
      ),
    );
    queue.add('1');
    await clock.advance(100);
    queue.add('2');
    await clock.advance(149);
    expect(queue.sent).toEqual([]);
    await clock.advance(1);
    expect(queue.sent).toEqual([{ at: 250, reason: 'paced', keys: ['1', '2'] }]);
    readyAt = Number.POSITIVE_INFINITY;
  });

  it('asks again at once when an answer may have changed the budget (X corrected its assumed window), not at the end of the wait', async () => {
    let ample = false;
    const budget = new ScriptedBudget((kind) =>
      kind === 'paced' && !ample ? { granted: false, retryInMs: 3_000, exhausted: false } : { granted: true },
    );
    const { clock, queue } = setUp(budget, { maxHoldMs: 2_000 });
    queue.add('1');
    await clock.advance(10);
    queue.planner.poke();
    await clock.advance(40);
    expect(queue.sent).toEqual([]);
    ample = true;
    queue.planner.poke(true);
    await settle();
    expect(queue.sent).toEqual([{ at: 50, reason: 'paced', keys: ['1'] }]);
  });

  it('never holds a key past UPSTREAM_MAX_HOLD_MS: the oldest call goes due, taking from the window', async () => {
    const budget = new ScriptedBudget((kind) => (kind === 'paced' ? { granted: false, retryInMs: 60_000, exhausted: false } : ample()));
    const { clock, queue } = setUp(budget, { maxHoldMs: 1_000 });
    queue.add('1');
    await clock.advance(400);
    queue.add('2');
    await clock.advance(599);
    expect(queue.sent).toEqual([]);
    await clock.advance(1);
    expect(queue.sent).toEqual([{ at: 1_000, reason: 'due', keys: ['1', '2'] }]);
    expect(budget.asked.at(-1)).toBe('window');
  });

  it('a due key with no call left in the window answers RATE_LIMITED with the wait, and later keys keep waiting', async () => {
    const { clock, queue } = setUp(new ScriptedBudget(() => ({ granted: false, retryInMs: 90_000, exhausted: true })), {
      maxHoldMs: 1_000,
    });
    queue.add('1');
    await clock.advance(500);
    queue.add('2');
    await clock.advance(500);
    expect(queue.refused).toEqual([{ at: 1_000, keys: ['1'], retryInMs: 90_000 }]);
    expect(queue.keys.map((entry) => entry.key)).toEqual(['2']);
    await clock.advance(500);
    expect(queue.refused.at(-1)).toEqual({ at: 1_500, keys: ['2'], retryInMs: 90_000 });
    expect(queue.sent).toEqual([]);
  });

  it('a full call in a spent window waits for its deadline without asking the window again before then', async () => {
    const budget = new ScriptedBudget(() => ({ granted: false, retryInMs: 90_000, exhausted: true }));
    const { clock, queue } = setUp(budget, { maxHoldMs: 1_000 });
    queue.add('1', '2', '3', '4');
    await settle();
    const asked = budget.asked.length;
    for (let i = 0; i < 10; i++) {
      await clock.advance(50);
      queue.add(`more-${i}`);
    }
    expect(budget.asked.length).toBe(asked);
    await clock.advance(500);
    expect(queue.refused[0]?.keys).toEqual(['1', '2', '3', '4']);
  });

  it('a call left with nothing to carry (another replica took its keys) refuses nothing: the keys behind it are decided on again', async () => {
    let handedOver = false;
    const budget = new ScriptedBudget((kind) => {
      if (kind === 'paced') return { granted: false, retryInMs: 60_000, exhausted: false };
      if (handedOver) return ample();
      // The call's keys, '1' and '2', went in another replica's call while the permit was asked for.
      handedOver = true;
      queue.keys.splice(0, 2);
      return NOTHING_TO_SEND;
    });
    const { clock, queue } = setUp(budget, { maxHoldMs: 1_000 });
    queue.add('1', '2', '3');
    await clock.advance(1_000);
    expect(queue.refused).toEqual([]);
    expect(queue.sent).toEqual([{ at: 1_000, reason: 'due', keys: ['3'] }]);
  });

  it.each([
    ['full', 4],
    ['paced', 1],
  ] as const)('sends no %s call when its keys left while the permit was asked for', async (_reason, count) => {
    const clock = new ManualClock();
    const queue = new RecordingQueue(clock, 4);
    queue.planner = new Planner(
      queue,
      {
        async take() {
          await settle();
          // Their requests went away meanwhile.
          queue.keys.splice(0);
          return { granted: true };
        },
      },
      { maxBatchSize: 4, windowMs: 2, maxHoldMs: 1_000, clock },
    );
    queue.add(...Array.from({ length: count }, (_, i) => String(i)));
    await clock.advance(2);
    await settle();
    expect(queue.sent).toEqual([]);
    expect(clock.pending).toBe(0);
  });

  it('sends no due call when its keys left while the permit was asked for', async () => {
    const { clock, queue } = setUp(
      new ScriptedBudget((kind) => {
        if (kind === 'paced') return { granted: false, retryInMs: 60_000, exhausted: false };
        queue.keys.splice(0);
        return ample();
      }),
      { maxHoldMs: 1_000 },
    );
    queue.add('1');
    await clock.advance(1_000);
    expect(queue.sent).toEqual([]);
    expect(queue.refused).toEqual([]);
  });

  it('a budget that cannot be read does not stop calls', async () => {
    const { clock, queue } = setUp({
      take: () => Promise.reject(new Error('redis gone')),
    });
    queue.add('1');
    await clock.advance(2);
    expect(queue.sent).toEqual([{ at: 2, reason: 'paced', keys: ['1'] }]);
  });

  it('waits for an asynchronous budget one decision at a time, and decides again for keys that came meanwhile', async () => {
    let pendingTakes = 0;
    let maxConcurrent = 0;
    const clock = new ManualClock();
    const queue = new RecordingQueue(clock, 4);
    queue.planner = new Planner(
      queue,
      {
        async take() {
          pendingTakes++;
          maxConcurrent = Math.max(maxConcurrent, pendingTakes);
          await settle();
          pendingTakes--;
          return { granted: true };
        },
      },
      { maxBatchSize: 4, windowMs: 2, maxHoldMs: 1_000, clock },
    );
    for (let i = 0; i < 9; i++) queue.add(String(i));
    await settle();
    await settle();
    await clock.advance(2);
    await settle();
    expect(maxConcurrent).toBe(1);
    expect(queue.sent.map((call) => call.keys.length)).toEqual([4, 4, 1]);
  });
});
