import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { deleteKeysUnder, keysUnder, sharedRedis, sharedRedisEnvironment, uniquePrefix } from '../../src/testing/redis.js';
import { type Harness, startHarness } from '../support/harness.js';
import { idsOf, xCalls } from '../support/x.js';

/**
 * What Redis holds is not trusted, down to the record inside a well-formed entry (issue 20, finding 7): an
 * entry of this format, written for the key it is read under, whose record is another user's or not an X
 * user at all, is a miss — fetched again, answered as the upstream answers, counted, and overwritten.
 * Before, user 2's record under user 1's key answered as user 1, and `{"id":"1"}` answered `name: null`
 * with no error.
 */

const redis = sharedRedis();
const prefix = uniquePrefix('cached-record-checks');
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { X_CACHE: '1', ...sharedRedisEnvironment(), REDIS_KEY_PREFIX: prefix } });
});
afterAll(async () => {
  await h.close();
  await deleteKeysUnder(redis, prefix);
  await redis.quit();
});
beforeEach(async () => {
  await deleteKeysUnder(redis, prefix);
  h.reset();
});

const QUERY = '{ xUsers(ids: ["1", "2"]) { id name username } }';

/** The Redis key of user `id`'s entry, and the entry. */
async function entryOf(id: string): Promise<[string, Record<string, unknown>]> {
  for (const key of await keysUnder(redis, `${prefix}cache:`)) {
    const entry = JSON.parse((await redis.get(key))!) as { record?: { id?: string } };
    if (entry.record?.id === id) return [key, entry as Record<string, unknown>];
  }
  throw new Error(`no entry for ${id}`);
}

it.each([
  ['another user’s record (its place rewritten to this key)', async () => ({ ...((await entryOf('2'))[1].record as object) })],
  ['a record of this id but no X user (fields missing)', async () => ({ id: '1' })],
  ['not a record at all', async () => 5],
])('a well-formed entry holding %s is a miss: fetched again, answered truly, and overwritten', async (_, spoil) => {
  const truth = await h.gql(QUERY);
  expect(truth.body.errors).toBeUndefined();
  const [key, entry] = await entryOf('1');
  await redis.set(key, JSON.stringify({ ...entry, record: await spoil() }), 'PX', 600_000);
  const answer = await h.gql(QUERY);
  expect(answer.body).toEqual(truth.body);
  expect(xCalls(h).map(idsOf)).toEqual([['1', '2'], ['1']]);
  expect((await entryOf('1'))[0]).toBe(key); // overwritten by the answer
  expect(await (await fetch(`${h.url}/metrics`)).text()).toMatch(/users_subgraph_cache_rejected_entries_total\{reason="record"\} [1-9]/);
});
