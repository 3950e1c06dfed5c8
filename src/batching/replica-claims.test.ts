import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FetchClaims, type Holder, RedisFetchClaims } from '../cache/fetch-claims.js';
import { RedisCache } from '../cache/redis-cache.js';
import { ProviderError } from '../core/errors.js';
import { Lookup, Runtime } from '../core/lookup.js';
import type { FieldSet, ProviderId } from '../core/types.js';
import { RedisLink } from '../redis/link.js';
import { ManualClock } from '../testing/manual-clock.js';
import { deleteKeysUnder, keysUnder, SHARED_REDIS_TOPOLOGY, sharedRedis, startOwnRedis, uniquePrefix } from '../testing/redis.js';
import { untilIo } from '../testing/until-io.js';
import type { LookupCall, RequestSink } from './lookup-call.js';
import { SharedLookups } from './shared-lookups.js';

/**
 * Two replicas' shared layers on one real Redis (the run's own, whatever its topology, a key prefix of this
 * test's own), each with its own "upstream": a function that records its calls and answers when the test opens
 * its gate. What is asserted is who called the upstream for which keys: a key one replica is fetching costs the
 * other none. Poll waits run on a manual clock (`clock.run`), Redis round trips on real I/O.
 */

const PROVIDER: ProviderId = { name: 'demo', label: 'Demo' };
type Row = { id: string; by: string };
const logger = pino({ level: 'silent' });
const admin = sharedRedis();
let link: RedisLink;

interface Replica {
  name: string;
  shared: SharedLookups;
  lookup: Lookup<Row>;
  runtime: Runtime;
  calls: string[][];
  /** Who held each key when this replica claimed it. */
  claimed: Holder[][];
  open(): void;
  /** The next calls throw this instead of answering. */
  fail?: ProviderError;
}

function replica(name: string, clock: ManualClock, namespace: string, on: RedisLink = link): Replica {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const self: Replica = {
    name,
    calls: [],
    claimed: [],
    open: () => open(),
    lookup: new Lookup<Row>({
      provider: PROVIDER,
      name: 'users',
      type: 'DemoUser',
      key: { isValid: () => true, expected: 'an id' },
      fields: () => [],
    }),
    runtime: new Runtime(),
    shared: undefined as never,
  };
  self.lookup.bind(self.runtime, {
    maxBatchSize: 100,
    async fetch(keys) {
      self.calls.push([...keys]);
      await gate;
      if (self.fail) throw self.fail;
      return new Map(keys.map((key) => [key, { id: key, by: name }]));
    },
  });
  const inner = new RedisFetchClaims(on, `${namespace}cache:`, `${namespace}claim:`, 10_000, clock);
  const claims: FetchClaims = {
    leaseMs: inner.leaseMs,
    whenReleased: (keys, ms, signal) => inner.whenReleased(keys, ms, signal),
    whenStored: (keys, ms, signal) => inner.whenStored(keys, ms, signal),
    claim: async (keys, read) => {
      const answer = await inner.claim(keys, read);
      self.claimed.push(answer[0]);
      return answer;
    },
    release: (keys) => inner.release(keys),
  };
  self.shared = new SharedLookups({
    cache: new RedisCache(on, `${namespace}cache:`, () => clock.wallNow()),
    keyPrefix: `${namespace}cache:`,
    claims,
    policy: () => ({ enabled: true, ttlMs: 60_000, missingTtlMs: 5_000, staleMs: 0 }),
    windowMs: 0,
    clock,
    logger,
  });
  return self;
}

function sink(): RequestSink {
  return { signal: new AbortController().signal, prime: () => {}, servePartial: (answer) => answer.record };
}

function call(r: Replica, fields: FieldSet = ['name']): LookupCall<Row> {
  return {
    lookup: r.lookup,
    calls: r.lookup.in(r.runtime)!,
    runtime: r.runtime,
    partition: '',
    credential: undefined,
    fields,
    request: sink(),
  };
}

function setUp() {
  const clock = new ManualClock();
  const namespace = link.key(Math.random().toString(36).slice(2), '');
  return { clock, a: replica('a', clock, namespace), b: replica('b', clock, namespace), c: replica('c', clock, namespace), namespace };
}

beforeAll(async () => {
  link = new RedisLink({ topology: SHARED_REDIS_TOPOLOGY, prefix: uniquePrefix('fetch-claims'), commandTimeoutMs: 2_000, logger });
  expect(await link.connect()).toBe(true);
});
afterEach(async () => {
  await deleteKeysUnder(admin, link.prefix);
});
afterAll(async () => {
  await link.close();
  await admin.quit();
});

describe('claims between replicas', () => {
  it('a key another replica is fetching is awaited in the shared cache: one upstream call in all', async () => {
    const { clock, a, b } = setUp();
    const first = a.shared.load(call(a), ['1', '2']);
    await untilIo(() => a.calls.length === 1);
    const second = b.shared.load(call(b), ['1', '2']);
    await untilIo(() => b.claimed.length === 1);
    expect(b.claimed[0]).toEqual(['other', 'other']);
    a.open();
    const [fromA, fromB] = await Promise.all([clock.run(first), clock.run(second)]);
    expect(a.calls).toEqual([['1', '2']]);
    expect(b.calls).toEqual([]);
    // B answers with what A fetched, through the cache.
    expect([...fromB.values()]).toEqual([...fromA.values()]);
    expect(fromB.get('1')).toEqual({ id: '1', by: 'a' });
  });

  // Counts the commands of a redis-server of its own: one node, whatever the topology the suite runs on (the default
  // project runs it).
  it.skipIf(SHARED_REDIS_TOPOLOGY.kind !== 'node')(
    'a thousand requests waiting on another replica cost Redis one look per poll, not one per waiter, and wake on its release message (issue 20)',
    async () => {
      // A Redis of this test's own: its INFO commandstats counts this test's commands and nothing else.
      const own = await startOwnRedis();
      const ownLink = new RedisLink({ url: own.url, prefix: 'claims-watch:', commandTimeoutMs: 2_000, logger });
      const counter = new Redis(own.url);
      try {
        expect(await ownLink.connect()).toBe(true);
        const clock = new ManualClock();
        const a = replica('a', clock, 'claims-watch:', ownLink);
        const b = replica('b', clock, 'claims-watch:', ownLink);
        const ids = Array.from({ length: 100 }, (_, i) => String(i + 1));
        const first = a.shared.load(call(a), ids);
        await untilIo(() => a.calls.length === 1);
        const waiters = 1_000;
        const asked = Array.from({ length: waiters }, (_, i) => ids[i % ids.length]!);
        const loads = asked.map((id) => b.shared.load(call(b), [id]));
        await untilIo(() => b.claimed.length === waiters);
        expect(b.claimed.every((holders) => holders[0] === 'other')).toBe(true);
        await counter.config('RESETSTAT');
        // A second of the manual clock, one timer at a time. Every waiter's lease timer stays pending; the
        // watch's next look is armed only once Redis answered the last one, so waiting for it waits out the I/O.
        for (;;) {
          await untilIo(() => clock.pending === waiters + 1);
          if (clock.now() + (clock.nextIn() ?? 0) > 1_000) break;
          await clock.step();
        }
        const stats = await counter.info('commandstats');
        const calls = (command: string) => Number(stats.match(new RegExp(`cmdstat_${command}:calls=(\\d+)`))?.[1] ?? 0);
        // Looks at 5, 15, 35, 75, 155 ms (5, 10, 20, 40, 80 apart), then every 100 ms up to 955: 13 MGETs of
        // the 100 watched claims for the 1,000 waiters, and no waiter claimed again.
        expect(calls('mget')).toBe(13);
        expect(calls('evalsha') + calls('eval')).toBe(0);
        expect(b.claimed.length).toBe(waiters);

        // A's answer: its release message wakes B's waiters without B's clock moving (no poll).
        a.open();
        const before = clock.now();
        await first;
        const answers = await Promise.all(loads);
        expect(clock.now()).toBe(before);
        expect(answers.map((answer, i) => answer.get(asked[i]!))).toEqual(asked.map((id) => ({ id, by: 'a' })));
        expect(a.calls).toEqual([ids]);
        expect(b.calls).toEqual([]);
      } finally {
        counter.disconnect();
        await ownLink.close();
        await own.close();
      }
    },
  );

  it('sends its own keys at once while it waits for another replica’s: no replica waits holding a claim', async () => {
    const { clock, a, b } = setUp();
    const held = a.shared.load(call(a), ['2']);
    await untilIo(() => a.calls.length === 1);
    const mixed = b.shared.load(call(b), ['1', '2']);
    // B's call for 1 goes while A still holds 2 (A's gate is shut).
    await untilIo(() => b.calls.length === 1);
    expect(b.calls).toEqual([['1']]);
    b.open();
    a.open();
    const answers = await clock.run(mixed);
    await clock.run(held);
    expect(answers.get('1')).toEqual({ id: '1', by: 'b' });
    expect(answers.get('2')).toEqual({ id: '2', by: 'a' });
    expect(a.calls).toEqual([['2']]);
  });

  it('an answer that is not cached (a rate limit) gives the claim back: the waiting replica asks for itself', async () => {
    const { clock, a, b } = setUp();
    a.fail = new ProviderError({ code: 'RATE_LIMITED', provider: PROVIDER });
    const failing = a.shared.load(call(a), ['1']);
    await untilIo(() => a.calls.length === 1);
    const waiting = b.shared.load(call(b), ['1']);
    await untilIo(() => b.claimed.length === 1);
    a.open();
    b.open();
    expect((await clock.run(failing)).get('1')).toBeInstanceOf(ProviderError);
    expect((await clock.run(waiting)).get('1')).toEqual({ id: '1', by: 'b' });
    expect(b.calls).toEqual([['1']]);
  });

  it('a claim given back without an answer is taken over by one waiter, not by every waiter at once', async () => {
    const { clock, a, b, c } = setUp();
    a.fail = new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider: PROVIDER });
    const failing = a.shared.load(call(a), ['1']);
    await untilIo(() => a.calls.length === 1);
    const waitingB = b.shared.load(call(b), ['1']);
    const waitingC = c.shared.load(call(c), ['1']);
    await untilIo(() => b.claimed.length === 1 && c.claimed.length === 1);
    a.open();
    expect((await clock.run(failing)).get('1')).toBeInstanceOf(ProviderError);
    // B and C poll on; the first to claim after A gave it back asks, the other keeps waiting on it.
    await untilIo(() => b.calls.length + c.calls.length === 1);
    for (let poll = 0; poll < 10; poll++) {
      await clock.timerSet();
      await clock.advance(5);
      await untilIo(() => clock.pending > 0);
    }
    expect(b.calls.length + c.calls.length).toBe(1);
    b.open();
    c.open();
    const answers = await Promise.all([clock.run(waitingB), clock.run(waitingC)]);
    expect(answers.map((m) => m.get('1'))).toEqual([expect.objectContaining({ id: '1' }), expect.objectContaining({ id: '1' })]);
    // The one that asked got its answer cached; the other found it there.
    expect(b.calls.length + c.calls.length).toBe(1);
  });

  it('a claim whose holder never gives it back expires: the waiter asks after the lease', async () => {
    const { clock, a, b } = setUp();
    // A fetches 1 and never answers (its gate stays shut): a replica that died mid-call.
    void a.shared.load(call(a), ['1']).catch(() => {});
    await untilIo(() => a.calls.length === 1);
    b.open();
    const waiting = b.shared.load(call(b), ['1']);
    expect((await clock.run(waiting)).get('1')).toEqual({ id: '1', by: 'b' });
    expect(clock.now()).toBeGreaterThanOrEqual(10_000);
    a.open();
  });

  it('claims live beside the cache under their own keys, and are gone once answered', async () => {
    const { clock, a, namespace } = setUp();
    const loading = a.shared.load(call(a), ['1']);
    await untilIo(() => a.calls.length === 1);
    const claims = await keysUnder(admin, `${namespace}claim:`);
    expect(claims).toHaveLength(1);
    a.open();
    await clock.run(loading);
    // The release went down the link's connection: one more round trip on it, and Redis has applied it. On a Cluster it
    // is sent only once the entry's write (to another master) was acknowledged (fetch-claims.ts): wait for it there.
    await link.client.pttl(claims[0]!);
    while (link.cluster && (await admin.exists(claims[0]!)) === 1) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await admin.pttl((await keysUnder(admin, `${namespace}cache:`))[0]!)).toBeGreaterThan(0);
    expect(await keysUnder(admin, `${namespace}claim:`)).toEqual([]);
  });
});
