import { type Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisLink } from '../redis/link.js';
import { captureLogs } from '../testing/log-capture.js';
import { ManualClock, settle } from '../testing/manual-clock.js';
import { busiestWindow, seeded } from '../testing/pace-simulation.js';
import {
  deleteKeysUnder,
  freePort,
  type OwnRedis,
  SHARED_REDIS_TOPOLOGY,
  sharedRedis,
  startOwnRedis,
  uniquePrefix,
} from '../testing/redis.js';
import type { PaceRule, Permit } from './pacing.js';
import { SharedPacer, type SharedPacerOptions } from './shared-pacer.js';

/**
 * SharedPacer against a real Redis (the run's own, whatever its topology): two instances on one account stand
 * for two replicas. Time is a manual clock, handed to the script as its `now`, and moved only when no call to
 * Redis is under way: every run is the same.
 */

const prefix = uniquePrefix('shared-pacer');
let link: RedisLink;
let raw: Redis | Cluster;
let clock: ManualClock;
let accounts = 0;
const pacers: SharedPacer[] = [];

beforeAll(async () => {
  link = new RedisLink({ topology: SHARED_REDIS_TOPOLOGY, prefix, commandTimeoutMs: 2_000, logger: captureLogs('silent').logger });
  expect(await link.connect()).toBe(true);
  raw = sharedRedis();
});

afterEach(async () => {
  await quiet();
  pacers.length = 0;
});

afterAll(async () => {
  await deleteKeysUnder(raw, prefix);
  raw.disconnect();
  await link.close();
});

/** A pacer of a fresh account (or of `account`, to share one), on the test's clock and Redis. */
function pacer(rules: readonly PaceRule[], options: Partial<SharedPacerOptions> = {}): SharedPacer {
  const p = new SharedPacer({
    link,
    rules,
    leaseMs: 2_000,
    clock,
    now: () => clock.now(),
    ...options,
    account: options.account ?? `acct-${++accounts}`,
  });
  pacers.push(p);
  return p;
}

/** Two replicas of one account. */
function replicas(rules: readonly PaceRule[], options: Partial<SharedPacerOptions> = {}): [SharedPacer, SharedPacer] {
  const account = `acct-${++accounts}`;
  return [pacer(rules, { account, ...options }), pacer(rules, { account, ...options })];
}

/** Waits until no pacer has a call to Redis under way, and what its answer set off has run. */
async function quiet(): Promise<void> {
  do await settle();
  while (pacers.some((p) => p.busy));
}

/** Moves the clock timer by timer, letting Redis answer between them, until `done()` or no timer is left. */
async function drive(done: () => boolean): Promise<void> {
  await quiet();
  while (!done()) {
    if (!(await clock.step())) break;
    await quiet();
  }
}

/** Moves the clock by `ms`, one timer at a time, letting Redis answer between them. */
async function advance(ms: number): Promise<void> {
  const target = clock.now() + ms;
  await quiet();
  for (;;) {
    const next = clock.nextIn();
    if (next === undefined || clock.now() + next > target) break;
    await clock.advance(next);
    await quiet();
  }
  await clock.advance(target - clock.now());
  await quiet();
}

/** Requests from several replicas, each answered `latency()` after it went, arriving at a random moment in between. */
async function simulate(sources: readonly SharedPacer[], perSource: number, latency: () => number, random: () => number) {
  const arrivals: number[] = [];
  const sent = sources.map(() => 0);
  let finished = 0;
  const total = sources.length * perSource;
  const one = async (source: number) => {
    const permit = await sources[source]!.acquire();
    sent[source]!++;
    const took = latency();
    arrivals.push(clock.now() + random() * took);
    clock.setTimer(() => {
      permit.release();
      finished++;
    }, took);
  };
  const all = Promise.all(sources.flatMap((_, source) => Array.from({ length: perSource }, () => one(source))));
  await drive(() => finished === total);
  await all;
  return { arrivals: arrivals.sort((a, b) => a - b), sent };
}

/** Requests an upstream leaky bucket (as Bitrix24 keeps it) would refuse. */
function refusals(arrivals: readonly number[], perSecond: number, burst: number): number {
  let level = 0;
  let at = 0;
  let refused = 0;
  for (const t of arrivals) {
    level = Math.max(0, level - ((t - at) / 1000) * perSecond);
    at = t;
    if (level + 1 > burst) refused++;
    else level += 1;
  }
  return refused;
}

describe('SharedPacer: two replicas, one account', () => {
  it('together they keep under every window, whatever the latency, and share it', async () => {
    clock = new ManualClock();
    const random = seeded(3);
    const rules: PaceRule[] = [
      { kind: 'window', count: 1, windowMs: 100 },
      { kind: 'window', count: 20, windowMs: 10_000 },
    ];
    const { arrivals, sent } = await simulate(replicas(rules), 40, () => 5 + random() * 295, random);
    expect(arrivals).toHaveLength(80);
    let closest = Infinity;
    for (let i = 1; i < arrivals.length; i++) closest = Math.min(closest, arrivals[i]! - arrivals[i - 1]!);
    expect(closest).toBeGreaterThanOrEqual(100);
    expect(busiestWindow(arrivals, 10_000)).toBeLessThanOrEqual(20);
    // ...and the budget is used: 80 requests at 20 per 10 s take four windows, not eight.
    expect(arrivals.at(-1)!).toBeLessThan(40_000);
    for (const count of sent) expect(count).toBe(40);
  }, 60_000);

  it('share one leaky bucket: the burst goes once between them, and the upstream bucket never overflows', async () => {
    clock = new ManualClock();
    const random = seeded(5);
    const { arrivals } = await simulate(replicas([{ kind: 'bucket', perSecond: 2, burst: 5 }]), 20, () => 20 + random() * 280, random);
    expect(refusals(arrivals, 2, 5)).toBe(0);
    // Each replica alone would have let 5 go at once: 10 together.
    expect(arrivals.filter((t) => t < 300)).toHaveLength(5);
  }, 60_000);

  it("a replica waits for the other's request in flight, then for the window after its answer", async () => {
    clock = new ManualClock();
    const [a, b] = replicas([{ kind: 'window', count: 1, windowMs: 100 }]);
    const first = await a.acquire();
    let second: Permit | undefined;
    void b.acquire().then((p) => (second = p));
    await advance(1_000);
    expect(second).toBeUndefined();
    first.release();
    await advance(99);
    expect(second).toBeUndefined();
    await advance(1);
    expect(second).toBeDefined();
  });
});

describe('SharedPacer: leases', () => {
  it('the lease of a replica that died mid-request expires: it counts as answered then', async () => {
    clock = new ManualClock();
    const [dead, alive] = replicas([{ kind: 'window', count: 1, windowMs: 100 }], { leaseMs: 2_000 });
    await dead.acquire(); // never released: the replica is gone
    let grantedAt: number | undefined;
    void alive.acquire().then(() => (grantedAt = clock.now()));
    await advance(2_099);
    expect(grantedAt).toBeUndefined();
    await advance(1);
    expect(grantedAt).toBe(2_100);
  });

  it('values no replica can have written (a lease for ever, an answer in the future, garbage levels) wait no longer than a lease', async () => {
    clock = new ManualClock();
    const account = `acct-${++accounts}`;
    const base = link.key('pace', `{${account}}`);
    await raw.zadd(`${base}:flight`, 1e15, 'forged-lease');
    await raw.zadd(`${base}:done`, 1e15, 'forged-answer');
    await raw.hset(`${base}:levels`, 'level:2', 'inf', 'at:2', 'nan');
    const p = pacer(
      [
        { kind: 'window', count: 1, windowMs: 100 },
        { kind: 'bucket', perSecond: 2, burst: 5 },
      ],
      { account, leaseMs: 2_000 },
    );
    let grantedAt: number | undefined;
    void p.acquire().then(() => (grantedAt = clock.now()));
    await drive(() => grantedAt !== undefined);
    // The forged lease is cut to one lease from now and then counts as answered; the window follows.
    expect(grantedAt).toBe(2_100);
  });
});

describe('SharedPacer: giving up', () => {
  it('a caller that gives up while it waits is rejected with its reason, and leaves no lease and no timer', async () => {
    clock = new ManualClock();
    const [a, b] = replicas([{ kind: 'window', count: 1, windowMs: 100 }]);
    const held = await a.acquire();
    const controller = new AbortController();
    const waiting = b.acquire(controller.signal);
    await advance(60); // b polls while a's request is in flight
    controller.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    await quiet();
    expect(clock.pending).toBe(0);
    const account = `acct-${accounts}`;
    expect(await raw.zcard(link.key('pace', `{${account}}`, 'flight'))).toBe(1);
    held.release();
    await quiet();
    expect(await raw.zcard(link.key('pace', `{${account}}`, 'flight'))).toBe(0);
    await expect(b.acquire(AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
  });

  it('a caller that gives up while the script grants it: the lease is given back, not counted', async () => {
    clock = new ManualClock();
    const p = pacer([{ kind: 'window', count: 1, windowMs: 100 }]);
    const controller = new AbortController();
    const gone = p.acquire(controller.signal);
    controller.abort(new Error('gone')); // the script call is already on its way
    await expect(gone).rejects.toThrow('gone');
    await quiet();
    // Nothing in flight, nothing answered: the next request goes at once.
    let next: Permit | undefined;
    void p.acquire().then((permit) => (next = permit));
    await quiet();
    expect(next).toBeDefined();
    expect(clock.now()).toBe(0);
  });

  it('the next waiter is served when the first gives up, and releasing twice counts once', async () => {
    clock = new ManualClock();
    const p = pacer([{ kind: 'window', count: 2, windowMs: 1_000 }]);
    const first = await p.acquire();
    first.release();
    first.release();
    await quiet();
    const second = await p.acquire(); // one answer and one in flight: the window is full
    const controller = new AbortController();
    const abandoned = p.acquire(controller.signal);
    let fourth: Permit | undefined;
    void p.acquire().then((permit) => (fourth = permit));
    await quiet();
    controller.abort(new Error('gone'));
    await expect(abandoned).rejects.toThrow('gone');
    second.release();
    await advance(999);
    expect(fourth).toBeUndefined();
    await advance(1);
    expect(fourth).toBeDefined();
  });
});

// A link to nothing, and a redis-server of its own it kills: one node, whatever the topology the suite runs on (the
// default project runs them).
describe.skipIf(SHARED_REDIS_TOPOLOGY.kind !== 'node')('SharedPacer without Redis', () => {
  let own: OwnRedis | undefined;
  afterEach(async () => {
    await own?.close();
    own = undefined;
  });

  it('a link to nothing: paces locally, with the same rules', async () => {
    clock = new ManualClock();
    const dead = new RedisLink({
      url: `redis://127.0.0.1:${await freePort()}`,
      prefix,
      commandTimeoutMs: 100,
      logger: captureLogs('silent').logger,
    });
    expect(await dead.connect()).toBe(false);
    try {
      const p = new SharedPacer({
        link: dead,
        account: 'nowhere',
        rules: [{ kind: 'window', count: 1, windowMs: 100 }],
        leaseMs: 2_000,
        clock,
      });
      const first = await p.acquire();
      let second: Permit | undefined;
      void p.acquire().then((permit) => (second = permit));
      await clock.advance(500);
      expect(second).toBeUndefined();
      first.release();
      await clock.advance(99);
      expect(second).toBeUndefined();
      await clock.advance(1);
      expect(second).toBeDefined();
    } finally {
      await dead.close();
    }
  });

  it('Redis lost mid-way: new requests pace locally, a permit goes back where it came from, and Redis is used again once back', async () => {
    clock = new ManualClock();
    own = await startOwnRedis();
    const ownLink = new RedisLink({ url: own.url, prefix, commandTimeoutMs: 500, logger: captureLogs('silent').logger });
    const ownRaw = new Redis(own.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    try {
      expect(await ownLink.connect()).toBe(true);
      const p = new SharedPacer({
        link: ownLink,
        account: 'lost',
        rules: [{ kind: 'window', count: 1, windowMs: 100 }],
        leaseMs: 2_000,
        clock,
        now: () => clock.now(),
      });
      pacers.push(p);
      const flight = ownLink.key('pace', '{lost}', 'flight');
      const fromRedis = await p.acquire();
      expect(await ownRaw.zcard(flight)).toBe(1);

      await own.kill();
      await ownLink.waitUntil(false);
      const local = await p.acquire(); // the local pacer has nothing in flight
      fromRedis.release(); // its release fails quietly: the lease would expire by itself
      await quiet();
      let third: Permit | undefined;
      void p.acquire().then((permit) => (third = permit));
      await clock.advance(1_000);
      expect(third).toBeUndefined(); // the local permit is still out: the Redis one's release did not count for it
      local.release();
      await clock.advance(100);
      expect(third).toBeDefined();
      third!.release();

      await own.restart();
      await ownLink.waitUntil(true);
      await clock.advance(1_000);
      const again = await p.acquire();
      await quiet();
      expect(await ownRaw.zcard(flight)).toBe(1);
      again.release();
      await quiet();
    } finally {
      ownRaw.disconnect();
      await ownLink.close();
    }
  }, 20_000);
});
