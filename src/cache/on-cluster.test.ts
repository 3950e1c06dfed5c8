import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisLink } from '../redis/link.js';
import { type OwnCluster, startOwnCluster } from '../testing/redis-topologies.js';
import type { CacheEntry } from './entry.js';
import { RedisFetchClaims } from './fetch-claims.js';
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

beforeAll(async () => {
  cluster = await startOwnCluster();
  const topology = { kind: 'cluster' as const, nodes: cluster.startupNodes, tls: false };
  link = new RedisLink({ topology, prefix: 'on-cluster:', commandTimeoutMs: 2_000, logger: silent });
  other = new RedisLink({ topology, prefix: 'on-cluster:', commandTimeoutMs: 2_000, logger: silent });
  expect(await link.connect()).toBe(true);
  expect(await other.connect()).toBe(true);
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
