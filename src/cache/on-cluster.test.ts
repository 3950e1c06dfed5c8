import calculateSlot from 'cluster-key-slot';
import { type Cluster, Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SharedLookups } from '../batching/shared-lookups.js';
import { systemClock } from '../core/clock.js';
import { Lookup, Runtime } from '../core/lookup.js';
import { RedisLink } from '../redis/link.js';
import { type OwnCluster, startOwnCluster } from '../testing/redis-topologies.js';
import type { CacheEntry } from './entry.js';
import { type FetchClaims, type Holder, RedisFetchClaims } from './fetch-claims.js';
import { RedisCache } from './redis-cache.js';

/**
 * The record cache and the fetch claims on a real local Redis Cluster (three masters, three replicas):
 * keys over many slots are read, written, claimed and evicted without a CROSSSLOT refusal, each answer
 * at its own key.
 */

let cluster: OwnCluster;
let link: RedisLink;
let other: RedisLink;
const silent = pino({ level: 'silent' });

/** Two links to the cluster (two replicas' views of it), connected. */
async function twoLinks(prefix: string, commandTimeoutMs: number): Promise<[RedisLink, RedisLink]> {
  const topology = { kind: 'cluster' as const, nodes: cluster.startupNodes, tls: false };
  const links = [0, 1].map(() => new RedisLink({ topology, prefix, commandTimeoutMs, logger: silent })) as [RedisLink, RedisLink];
  for (const one of links) expect(await one.connect()).toBe(true);
  return links;
}

beforeAll(async () => {
  cluster = await startOwnCluster();
  [link, other] = await twoLinks('on-cluster:', 2_000);
}, 60_000);

afterAll(async () => {
  await link?.close();
  await other?.close();
  await cluster?.close();
});

const NS = 'on-cluster:cache:';
/** A cache key as the lookups build it: provider, lookup, scope, partition, id. */
const keyOf = (provider: string, id: string) => `${NS}${provider}|users|scope|${provider === 'b24' ? 'portal-a' : ''}|${id}`;
const entry = (id: string): CacheEntry => ({
  record: { id },
  fields: ['id'],
  freshUntil: Date.now() + 60_000,
  staleUntil: Date.now() + 120_000,
  at: Date.now(),
});

it('reads and writes records spread over the slots, each at its own key, and evicts them from every master', async () => {
  const cache = new RedisCache(link, NS);
  const ids = Array.from({ length: 60 }, (_, i) => String(i + 1));
  const keys = ids.map((id) => keyOf('x', id));
  expect(link.bySlot(keys).length).toBeGreaterThan(30);
  await cache.set(keys.map((key, i) => [key, entry(ids[i]!)] as const));
  const read = await cache.get([...keys, keyOf('x', 'never')]);
  expect(read.slice(0, 60).map((found) => (found?.record as { id: string } | undefined)?.id)).toEqual(ids);
  expect(read[60]).toBeUndefined();
  expect(await cache.evict(`${NS}x|`)).toBe(60);
  expect((await cache.get(keys)).every((found) => found === undefined)).toBe(true);
}, 30_000);

it('claims keys of several upstreams at once: one script per hash tag, each key answered at its position', async () => {
  const mine = new RedisFetchClaims(link, NS, 'on-cluster:claim:', 5_000);
  const theirs = new RedisFetchClaims(other, NS, 'on-cluster:claim:', 5_000);
  const keys = [keyOf('x', '1'), keyOf('b24', '1'), keyOf('x', '2'), keyOf('nexudus', '9'), keyOf('x', '1')];
  // Three upstreams: three slots, whatever their ids.
  expect(link.bySlot(keys.map((key) => `on-cluster:claim:{${key.slice(NS.length, key.lastIndexOf('|'))}}`)).length).toBe(3);
  const [held] = await mine.claim(keys, async () => null);
  // A key given twice: claimed at its first position, already ours at its second.
  expect(held).toEqual(['nobody', 'nobody', 'nobody', 'nobody', 'me']);
  const [seen] = await theirs.claim([keyOf('nexudus', '9'), keyOf('x', '3')], async () => null);
  expect(seen).toEqual(['other', 'nobody']);
  mine.release(keys);
  theirs.release([keyOf('x', '3')]);
  await expect.poll(async () => (await theirs.claim([keyOf('x', '1')], async () => null))[0]).toEqual(['nobody']);
  theirs.release([keyOf('x', '1')]);
}, 30_000);

/**
 * The order a record's write and its claim's release reach Redis in. On one node they go down one connection, in
 * that order; on a Cluster the record and its claim are in different slots, most often on different masters, over
 * different connections: nothing orders them but the replica that sends them. Each test here takes an id whose
 * record and claim live on different masters, and holds the record's write on its master with `CLIENT PAUSE …
 * WRITE` (reads go on; writes wait until `CLIENT UNPAUSE`): what a slow master, or a write queued behind others,
 * does to the order, made to last until the test lets it go. Nothing waits on wall time: each step waits for
 * what it needs (a call made, a read answered, a claim gone).
 */
describe('a record and its claim on different masters', () => {
  const ORDER = 'on-cluster:order:';
  const CACHE = `${ORDER}cache:`;
  const CLAIMS = `${ORDER}claim:`;
  /** Links of their own: a write held by a paused master must outlast no command timeout. */
  let holder: RedisLink;
  let waiter: RedisLink;

  beforeAll(async () => {
    [holder, waiter] = await twoLinks(ORDER, 30_000);
  }, 30_000);

  afterAll(async () => {
    await holder?.close();
    await waiter?.close();
  });

  /** The cache key of `id` as `SharedLookups` builds it for the lookup below (provider x, lookup users, no scope or partition)… */
  const placeOf = (id: string) => `${CACHE}x|users|||${id}`;
  /** …and its claim's (`RedisFetchClaims.claimKey`). */
  const claimOf = (id: string) => `${CLAIMS}{x|users||}|${id}`;
  /** The master that owns `key`'s slot now, as `host:port`. */
  const masterOf = (key: string) => (link.client as Cluster).slots[calculateSlot(key)]![0]!;

  /** An id not used yet whose record is on another master than its claim. */
  let next = 0;
  function idApart(): string {
    for (;;) {
      const id = `${++next}`;
      if (masterOf(placeOf(id)) !== masterOf(claimOf(id))) return id;
    }
  }

  /** Holds every write on the master that owns `key` until the returned function is called (and awaited). */
  async function holdWrites(key: string): Promise<() => Promise<void>> {
    const [host, port] = masterOf(key).split(':');
    const admin = new Redis({ host: host!, port: Number(port), maxRetriesPerRequest: 0 });
    await admin.call('CLIENT', 'PAUSE', '30000', 'WRITE');
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      await admin.call('CLIENT', 'UNPAUSE');
      await admin.quit();
    };
  }

  it("a replica fetching an id is not asked again while its answer's write is held: the other replica waits for it", async () => {
    const fetched: string[] = [];
    /** A replica's shared layer; `parked` resolves once it waits for another replica's claim to be given back. */
    const replica = (name: string, on: RedisLink) => {
      const lookup = new Lookup<{ id: string; by: string }>({
        provider: { name: 'x', label: 'X' },
        name: 'users',
        type: 'XUser',
        key: { isValid: () => true, expected: 'an id' },
        fields: () => [],
      });
      const runtime = new Runtime();
      lookup.bind(runtime, {
        maxBatchSize: 100,
        fetch: async (keys) => {
          for (const key of keys) fetched.push(`${name}:${key}`);
          return new Map(keys.map((key) => [key, { id: key, by: name }]));
        },
      });
      let parked!: () => void;
      const waiting = new Promise<void>((resolve) => {
        parked = resolve;
      });
      const inner = new RedisFetchClaims(on, CACHE, CLAIMS, 20_000);
      const claims: FetchClaims = {
        leaseMs: inner.leaseMs,
        writes: inner.writes,
        claim: (keys, read) => inner.claim(keys, read),
        release: (keys) => inner.release(keys),
        whenReleased: (keys, ms, signal) => {
          parked();
          return inner.whenReleased(keys, ms, signal);
        },
        whenStored: (keys, ms, signal) => inner.whenStored(keys, ms, signal),
      };
      const shared = new SharedLookups({
        cache: new RedisCache(on, CACHE),
        keyPrefix: CACHE,
        claims,
        policy: () => ({ enabled: true, ttlMs: 60_000, missingTtlMs: 5_000, staleMs: 0 }),
        windowMs: 0,
        clock: systemClock,
        logger: silent,
      });
      const load = (id: string) =>
        shared.load(
          {
            lookup,
            calls: lookup.in(runtime)!,
            runtime,
            partition: '',
            credential: undefined,
            fields: [],
            request: { signal: new AbortController().signal, prime: () => {}, servePartial: (answer) => answer.record },
          },
          [id],
        );
      return { load, waiting };
    };
    const h = replica('h', holder);
    const w = replica('w', waiter);
    const id = idApart();

    const resume = await holdWrites(placeOf(id));
    let second: Promise<unknown>;
    let outcome: 'fetched it itself' | 'waited';
    try {
      // h fetches the id; its answer is on its way to the cache (held by the paused master), its claim given back
      // when it may be.
      expect((await h.load(id)).get(id)).toEqual({ id, by: 'h' });
      // w misses the id in the cache: it must find h's claim, and wait for h's answer rather than ask for it again.
      second = w.load(id);
      outcome = await Promise.race([second.then(() => 'fetched it itself' as const), w.waiting.then(() => 'waited' as const)]);
    } finally {
      await resume();
    }
    expect(outcome).toBe('waited');
    expect(await second).toEqual(new Map([[id, { id, by: 'h' }]]));
    expect(fetched).toEqual([`h:${id}`]);
  }, 30_000);

  it("a claim taken once its holder gave it back reads the holder's answer, even where the read travels faster than the claim", async () => {
    const id = idApart();
    const mine = new RedisFetchClaims(holder, CACHE, CLAIMS, 20_000);
    const theirs = new RedisFetchClaims(waiter, CACHE, CLAIMS, 20_000);
    const written = new RedisCache(holder, CACHE);
    const read = new RedisCache(waiter, CACHE);
    // Their script is cached (a first claim takes the slow path, claim then read, whatever the topology).
    await theirs.claim([placeOf(`warm-${id}`)], async () => null);
    expect((await mine.claim([placeOf(id)], async () => null))[0]).toEqual(['nobody']);

    const resume = await holdWrites(placeOf(id));
    let write: Promise<void>;
    let claimed: Promise<[Holder[], Array<CacheEntry | undefined>]>;
    // Their next claim script is held in this process until the test lets it go: the claim reaches its master late.
    const client = waiter.client as unknown as { evalsha: (...args: unknown[]) => Promise<unknown> };
    const evalsha = client.evalsha;
    let letGo!: () => void;
    const gate = new Promise<void>((resolve) => {
      letGo = resolve;
    });
    let sent!: () => void;
    const scriptSent = new Promise<void>((resolve) => {
      sent = resolve;
    });
    client.evalsha = (...args: unknown[]) => {
      sent();
      return gate.then(() => evalsha.apply(waiter.client, args));
    };
    const reads: Array<Promise<unknown>> = [];
    try {
      write = written.set([[placeOf(id), entry(id)]]);
      claimed = theirs.claim([placeOf(id)], () => {
        const entries = read.get([placeOf(id)]);
        reads.push(entries);
        return entries;
      });
      await scriptSent;
      // A read sent beside the claim is answered now, before the write it should see.
      await Promise.all(reads);
    } finally {
      await resume();
    }
    // The write is acknowledged, then the claim given back (as `release` does), and gone from its master…
    await write;
    mine.release([placeOf(id)]);
    await expect.poll(() => link.client.get(claimOf(id))).toBeNull();
    // …before their claim arrives: nobody holds it, and what is read must be the answer stored before.
    letGo();
    delete (client as { evalsha?: unknown }).evalsha;
    const [holders, entries] = await claimed;
    expect(holders).toEqual(['nobody']);
    expect(entries[0]?.record).toEqual({ id });
    theirs.release([placeOf(id), placeOf(`warm-${id}`)]);
  }, 30_000);
});
