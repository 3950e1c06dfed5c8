import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { X_TEST_TOKEN } from '../../src/providers/x/emulator/index.js';
import { startXEmulator, type XEmulator } from '../../src/providers/x/emulator/server.js';
import { type OwnRedis, startOwnRedis, uniquePrefix } from '../../src/testing/redis.js';
import { startHarness } from '../support/harness.js';
import { type SubgraphProcess, startSubgraphProcess } from '../support/subgraph-process.js';

/**
 * The queue the replicas share (docs/upstream-budget.md, "Across replicas"), end to end: two subgraph
 * processes on a redis-server of their own, in front of an X whose window holds 40 calls per 15 minutes,
 * so that a partial call waits to fill. Each replica is asked for ids the other is not: one call carries
 * both replicas' ids, and each replica answers its own.
 */

const USERS = 'query ($ids: [ID!]!) { xUsers(ids: $ids) { id username } }';
let x: XEmulator;
let redis: OwnRedis;
const running: SubgraphProcess[] = [];

beforeAll(async () => {
  redis = await startOwnRedis();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((replica) => replica.stop()));
  await x.close();
});
afterAll(async () => {
  await redis.close();
});

/** An X whose window holds `limit` calls per 15 minutes. */
async function xWithWindow(limit: number): Promise<void> {
  x = await startXEmulator({ bearerToken: X_TEST_TOKEN, rateLimit: { limit, windowSeconds: 900 } });
}

const ids = (from: number, count: number) => Array.from({ length: count }, (_, i) => String(from + i));
const lookups = () => x.requests.filter((request) => request.path === '/2/users');

it("one call carries both replicas' waiting ids; each replica answers exactly its own", async () => {
  await xWithWindow(40);
  const env = {
    X_BEARER_TOKEN: X_TEST_TOKEN,
    X_API_BASE_URL: x.url,
    X_CACHE: '1',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: uniquePrefix('shared-queue'),
    UPSTREAM_MAX_HOLD_MS: '3000',
  };
  const [a, b] = await Promise.all([startSubgraphProcess(env), startSubgraphProcess(env)]);
  running.push(a!, b!);

  // The first call tells both replicas' ledger X's window: 40 calls, so a partial call now waits to fill.
  expect((await a!.gql(USERS, { ids: ['1'] })).body.errors).toBeUndefined();
  expect(lookups()).toHaveLength(1);

  const [fromA, fromB] = await Promise.all([a!.gql(USERS, { ids: ids(100, 30) }), b!.gql(USERS, { ids: ids(200, 30) })]);
  expect(fromA.body).toEqual({ data: { xUsers: ids(100, 30).map((id) => ({ id, username: `user${id}` })) } });
  expect(fromB.body).toEqual({ data: { xUsers: ids(200, 30).map((id) => ({ id, username: `user${id}` })) } });

  // One call for both, each id asked once.
  const calls = lookups().slice(1);
  expect(calls).toHaveLength(1);
  expect(calls[0]!.query.ids!.split(',').sort()).toEqual([...ids(100, 30), ...ids(200, 30)].sort());
  expect(x.requests.filter((request) => request.status === 429)).toEqual([]);
}, 30_000);

it('invisible in answers: concurrent requests split over two replicas that hold and share calls answer what one plain server answers, and no id is asked twice', async () => {
  await xWithWindow(3_000);
  const env = {
    X_BEARER_TOKEN: X_TEST_TOKEN,
    X_API_BASE_URL: x.url,
    X_CACHE: '1',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: uniquePrefix('shared-queue-property'),
    UPSTREAM_MAX_HOLD_MS: '300',
  };
  const [a, b] = await Promise.all([startSubgraphProcess(env), startSubgraphProcess(env)]);
  running.push(a!, b!);
  // The truth: one server, no Redis, no cache, no hold, an emulator of its own.
  const truth = await startHarness();
  try {
    // A window of 3,000 calls: its pace (about 3 calls a second) makes partial calls wait, and it is never spent here.
    await a!.gql(USERS, { ids: ['1'] });
    const id = fc.oneof(
      { weight: 9, arbitrary: fc.integer({ min: 1, max: 400 }).map(String) },
      { weight: 1, arbitrary: fc.integer({ min: 99_990, max: 99_999 }).map(String) },
    );
    const requestOf = fc.record({ replica: fc.constantFrom(0, 1), ids: fc.uniqueArray(id, { minLength: 1, maxLength: 12 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(requestOf, { minLength: 1, maxLength: 8 }), async (requests) => {
        const answers = await Promise.all(requests.map(({ replica, ids }) => [a!, b!][replica]!.gql(USERS, { ids })));
        for (const [i, { ids }] of requests.entries()) {
          const expected = await truth.gql(USERS, { ids });
          expect(answers[i]!.body).toEqual(expected.body);
        }
      }),
      { numRuns: 12, seed: 20_261_205 },
    );
    // Each id went upstream at most once over every run: the replicas shared what they fetched and what they held.
    const asked = lookups().flatMap((request) => request.query.ids!.split(','));
    expect(asked.length).toBe(new Set(asked).size);
  } finally {
    await truth.close();
  }
}, 60_000);
