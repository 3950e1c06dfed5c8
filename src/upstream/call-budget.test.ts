import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { CallBudget } from '../core/lookup.js';
import { RedisLink } from '../redis/link.js';
import { captureLogs } from '../testing/log-capture.js';
import { ManualClock } from '../testing/manual-clock.js';
import { deleteKeysUnder, keysUnder, SHARED_REDIS_TOPOLOGY, sharedRedis, startOwnRedis, uniquePrefix } from '../testing/redis.js';
import { HiddenLimitBudget, PacedBudget, RedisWindowBudget, WindowBudget } from './call-budget.js';
import { reserveOf } from './window-ledger.js';

const X_WINDOW = { limit: 300, windowMs: 15 * 60_000 };

/** Takes permits of `kind` until one is refused; how many were granted. */
async function drain(budget: CallBudget, kind: 'window' | 'paced', max = 10_000): Promise<number> {
  let granted = 0;
  while (granted < max && (await budget.take(kind)).granted) granted++;
  return granted;
}

describe('WindowBudget', () => {
  it('grants a whole window to full and due calls, then answers exhausted until the reset', async () => {
    const clock = new ManualClock();
    const budget = new WindowBudget(X_WINDOW, clock);
    expect(await drain(budget, 'window')).toBe(300);
    expect(budget.take('window')).toEqual({ granted: false, retryInMs: 900_000, exhausted: true });
    await clock.advance(899_999);
    expect(budget.take('window')).toMatchObject({ granted: false, retryInMs: 1 });
    await clock.advance(1);
    expect(budget.take('window')).toEqual({ granted: true });
    expect(budget.snapshot()).toEqual({ limit: 300, remaining: 299, resetInMs: 900_000 });
  });

  it('grants paced calls only at the pace the rest of the window sustains, the reserve kept back', async () => {
    const clock = new ManualClock();
    const budget = new WindowBudget(X_WINDOW, clock);
    // (300 − 15) calls over 900 s: one call every ~3.16 s; at most one second's worth (one call) banked.
    expect(budget.take('paced')).toEqual({ granted: true });
    const refused = budget.take('paced');
    expect(refused).toMatchObject({ granted: false, exhausted: false });
    const wait = refused.granted ? 0 : refused.retryInMs;
    expect(wait).toBeGreaterThan(3_000);
    expect(wait).toBeLessThan(3_200);
    await clock.advance(wait);
    expect(budget.take('paced')).toEqual({ granted: true });
    // Over the window, paced calls never spend the reserve.
    let paced = 2;
    for (let t = 0; t < 900; t++) {
      await clock.advance(1_000);
      if (budget.take('paced').granted) paced++;
    }
    expect(paced).toBeLessThanOrEqual(300 - reserveOf(300));
    expect(paced).toBeGreaterThan(250);
  });

  it('calls that went full or due are paid for by later paced ones', async () => {
    const clock = new ManualClock();
    const budget = new WindowBudget(X_WINDOW, clock);
    for (let i = 0; i < 10; i++) budget.take('window');
    await clock.advance(10_000);
    // Ten seconds earn about three calls: still in debt.
    expect(budget.take('paced').granted).toBe(false);
    await clock.advance(30_000);
    expect(budget.take('paced').granted).toBe(true);
  });

  it('paced calls stop at the reserve, which full and due calls may still spend', () => {
    const clock = new ManualClock();
    const budget = new WindowBudget({ limit: 40, windowMs: 900_000 }, clock);
    budget.note({ remaining: reserveOf(40), resetInMs: 600_000 });
    expect(budget.take('paced')).toEqual({ granted: false, retryInMs: 600_000, exhausted: false });
    expect(budget.take('window')).toEqual({ granted: true });
  });

  it("takes the upstream's word for another window, and only lowers the count within the same one", () => {
    const clock = new ManualClock();
    const budget = new WindowBudget(X_WINDOW, clock);
    // The first answer corrects the assumed window: 40 calls, 120 s to the reset.
    budget.note({ remaining: 39, resetInMs: 120_000, limit: 40 });
    expect(budget.snapshot()).toEqual({ limit: 40, remaining: 39, resetInMs: 120_000 });
    // An answer that left earlier (a higher count) within the same window does not raise it.
    budget.note({ remaining: 45, resetInMs: 119_600 });
    expect(budget.snapshot().remaining).toBe(39);
    budget.note({ remaining: 30, resetInMs: 120_400 });
    expect(budget.snapshot().remaining).toBe(30);
  });

  it("the first answer replaces the assumed window even when their resets are a moment apart (X's benchmark window: a billion calls)", () => {
    const clock = new ManualClock();
    const budget = new WindowBudget(X_WINDOW, clock);
    for (let i = 0; i < 5; i++) budget.take('window');
    budget.note({ remaining: 999_999_999, resetInMs: 899_500, limit: 1_000_000_000 });
    expect(budget.snapshot()).toEqual({ limit: 1_000_000_000, remaining: 999_999_999, resetInMs: 899_500 });
    // A second later, the pace of a billion calls grants every partial call.
    return clock.advance(1_000).then(() => {
      for (let i = 0; i < 1_000; i++) expect(budget.take('paced').granted).toBe(true);
    });
  });

  it('an ample window grants every paced call: nothing is held', () => {
    const clock = new ManualClock();
    const budget = new WindowBudget({ limit: 1_000_000_000, windowMs: 900_000 }, clock);
    for (let i = 0; i < 10_000; i++) expect(budget.take('paced').granted).toBe(true);
  });
});

describe('HiddenLimitBudget (Telegram)', () => {
  it('holds nothing until the upstream floods', () => {
    const budget = new HiddenLimitBudget(new ManualClock());
    for (let i = 0; i < 1_000; i++) expect(budget.take('paced').granted).toBe(true);
    expect(budget.snapshot()).toEqual({ ratePerMinute: null, blockedForMs: 0 });
  });

  it('after FLOOD_WAIT holds every call for the wait, then paces at half the last minute, adding one call a minute', async () => {
    const clock = new ManualClock();
    const budget = new HiddenLimitBudget(clock);
    for (let i = 0; i < 60; i++) {
      budget.take('paced');
      await clock.advance(1_000);
    }
    budget.flooded(5_000);
    expect(budget.take('window')).toEqual({ granted: false, retryInMs: 5_000, exhausted: true });
    expect(budget.snapshot().ratePerMinute).toBeCloseTo(30, 5);
    await clock.advance(5_000);
    // 30 calls a minute: one every two seconds.
    let granted = 0;
    for (let t = 0; t < 55_000; t += 100) {
      if (budget.take('paced').granted) granted++;
      await clock.advance(100);
    }
    expect(granted).toBeGreaterThanOrEqual(26);
    expect(granted).toBeLessThanOrEqual(29);
    await clock.advance(60_000);
    budget.take('paced');
    expect(budget.snapshot().ratePerMinute).toBeCloseTo(32, 5);
    // A second flood halves it again.
    budget.flooded(1_000);
    expect(budget.snapshot().ratePerMinute).toBeCloseTo(16, 5);
  });
});

describe('PacedBudget (Bitrix24, Nexudus)', () => {
  it('lets full and due calls queue at the pacer, and holds the others while the pacer is busy', () => {
    let readyIn = 0;
    const budget = new PacedBudget(() => readyIn);
    expect(budget.take('paced')).toEqual({ granted: true });
    readyIn = 400;
    expect(budget.take('paced')).toEqual({ granted: false, retryInMs: 400, exhausted: false });
    expect(budget.take('window')).toEqual({ granted: true });
  });
});

// On the run's shared Redis: one node in the default project, a Cluster and a Sentinel's master in the sharing
// projects (vitest.config.ts), where the ledger's script must find every key it touches in one slot.
describe('RedisWindowBudget', () => {
  const links: RedisLink[] = [];
  const prefixes: string[] = [];
  const silent = captureLogs('silent').logger;
  const admin = sharedRedis();

  afterEach(async () => {
    await Promise.all(links.splice(0).map((link) => link.close()));
    for (const prefix of prefixes.splice(0)) await deleteKeysUnder(admin, prefix);
  });
  afterAll(async () => {
    await admin.quit();
  });

  async function replica(prefix: string, now: () => number): Promise<RedisWindowBudget> {
    if (!prefixes.includes(prefix)) prefixes.push(prefix);
    const link = new RedisLink({ topology: SHARED_REDIS_TOPOLOGY, prefix, commandTimeoutMs: 2_000, logger: silent });
    links.push(link);
    expect(await link.connect()).toBe(true);
    return new RedisWindowBudget(
      link,
      link.key('{x:}', 'budget', 'GET /2/users'),
      { limit: 40, windowMs: 900_000 },
      new ManualClock(),
      now,
    );
  }

  it('two replicas together never take more calls than the window holds', async () => {
    const prefix = uniquePrefix('call-budget');
    let now = Date.UTC(2026, 0, 1);
    const a = await replica(prefix, () => now);
    const b = await replica(prefix, () => now);
    const takes = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a : b).take('window')));
    expect(takes.filter((permit) => permit.granted)).toHaveLength(40);
    // Which of the two connections' takes Redis ran first is its business; every one refused says why.
    for (const refused of takes.filter((permit) => !permit.granted))
      expect(refused).toEqual({ granted: false, retryInMs: 900_000, exhausted: true });
    expect(await a.snapshot()).toEqual({ limit: 40, remaining: 0, resetInMs: 900_000 });
    now += 900_000;
    expect(await b.take('window')).toEqual({ granted: true });
    expect((await a.snapshot()).remaining).toBe(39);
  });

  it('shares the pace: a paced call granted to one replica is not granted to the other', async () => {
    const prefix = uniquePrefix('call-budget');
    let now = Date.UTC(2026, 0, 1);
    const a = await replica(prefix, () => now);
    const b = await replica(prefix, () => now);
    expect(await a.take('paced')).toEqual({ granted: true });
    expect(await b.take('paced')).toMatchObject({ granted: false, exhausted: false });
    now += 30_000;
    expect(await b.take('paced')).toEqual({ granted: true });
    expect(await a.take('paced')).toMatchObject({ granted: false });
  });

  it("notes the upstream's readings as WindowBudget does", async () => {
    const prefix = uniquePrefix('call-budget');
    const now = Date.UTC(2026, 0, 1);
    const a = await replica(prefix, () => now);
    await a.note({ remaining: 12, resetInMs: 60_000, limit: 300 });
    expect(await a.snapshot()).toEqual({ limit: 300, remaining: 12, resetInMs: 60_000 });
    await a.note({ remaining: 20, resetInMs: 60_200 });
    expect((await a.snapshot()).remaining).toBe(12);
  });

  it('the first answer replaces the assumed window however close their resets', async () => {
    const prefix = uniquePrefix('call-budget');
    const now = Date.UTC(2026, 0, 1);
    const a = await replica(prefix, () => now);
    for (let i = 0; i < 5; i++) await a.take('window');
    await a.note({ remaining: 999_999_999, resetInMs: 899_500, limit: 1_000_000_000 });
    expect(await a.snapshot()).toEqual({ limit: 1_000_000_000, remaining: 999_999_999, resetInMs: 899_500 });
    await a.note({ remaining: 999_999_990, resetInMs: 899_700 });
    expect((await a.snapshot()).remaining).toBe(999_999_990);
  });

  it('keeps its ledger in one key with a hash tag, which expires by itself', async () => {
    const prefix = uniquePrefix('call-budget');
    const a = await replica(prefix, () => Date.UTC(2026, 0, 1));
    await a.take('window');
    const link = links[0]!;
    const keys = await keysUnder(admin, prefix);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toContain('{x:}');
    const ttl = await link.orLocal(
      'rate-budget',
      (client) => client.pttl(keys[0]!),
      () => -1,
    );
    expect(ttl).toBeGreaterThan(900_000);
  });

  // A redis-server of its own, killed: one node, whatever the topology the suite runs on (the default project runs it).
  it.skipIf(SHARED_REDIS_TOPOLOGY.kind !== 'node')('answers from this process when Redis is gone', async () => {
    const own = await startOwnRedis();
    const link = new RedisLink({ url: own.url, prefix: uniquePrefix('call-budget'), commandTimeoutMs: 200, logger: silent });
    links.push(link);
    expect(await link.connect()).toBe(true);
    const budget = new RedisWindowBudget(
      link,
      link.key('{x:}', 'budget', 'GET /2/users'),
      { limit: 3, windowMs: 900_000 },
      new ManualClock(),
    );
    expect(await budget.take('window')).toEqual({ granted: true });
    await own.kill();
    // This process's own ledger knows nothing of the call Redis counted: it grants its own window.
    expect(await drain(budget, 'window')).toBe(3);
    await own.close();
  });
});
