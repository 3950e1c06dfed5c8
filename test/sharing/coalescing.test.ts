import { afterEach, describe, expect, it } from 'vitest';
import { demoXUsername } from '../../src/providers/x/emulator/demo-data.js';
import { registry } from '../../src/telemetry/metrics.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { type Harness, startHarness } from '../support/harness.js';
import { idsOf, xCalls } from '../support/x.js';

/**
 * Coalescing across requests, through the real server: concurrent operations' ids join the same
 * upstream calls. The coalescing window runs on a manual clock, so "concurrent" is exact: every
 * request has asked for its ids before the window closes, whatever the machine's speed.
 */

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** What `users_subgraph_resolutions_total{provider}` says now (this process's registry). */
async function resolutionsOf(provider: string): Promise<number> {
  const metric = await registry.getSingleMetric('users_subgraph_resolutions_total')?.get();
  return metric?.values.find((v) => v.labels.provider === provider)?.value ?? 0;
}

/** Waits (on real time, by polling the metric) until the requests have asked for `count` more keys. */
async function untilResolutions(provider: string, from: number, count: number): Promise<void> {
  for (let i = 0; i < 2000 && (await resolutionsOf(provider)) < from + count; i++) await new Promise((r) => setTimeout(r, 5));
  expect(await resolutionsOf(provider)).toBe(from + count);
}

/** 50 overlapping id lists: request i asks for ids 1 + 3i .. 1 + 3i + 11 (12 ids, sharing 9 with the next). */
const lists = Array.from({ length: 50 }, (_, i) => Array.from({ length: 12 }, (_, j) => String(1 + 3 * i + j)));
const distinct = new Set(lists.flat());

describe.each([
  ['record cache off', { X_CACHE: '0' }],
  ['record cache on', { X_CACHE: '1' }],
])('coalescing (%s)', (_name, env) => {
  it('50 concurrent requests for overlapping ids make ceil(distinct ids / 100) calls, and each gets exactly its own list', async () => {
    const clock = new ManualClock();
    h = await startHarness({ env: { ...env, COALESCE_WINDOW_MS: '5' }, clock });
    const before = await resolutionsOf('x');
    const query = 'query($ids: [ID!]!) { xUsers(ids: $ids) { id username } }';
    // X answers nothing until every request has asked: a full chunk goes at once, and a call that came
    // back before a late request asked would, with the cache off, rightly be asked again.
    const release = h.emulator('x').holdReplies();
    const answers = lists.map((ids) => h!.gql(query, { ids }));
    // Every request's 12 ids have reached the shared layer: only then does the window close.
    await untilResolutions('x', before, 50 * 12);
    await clock.advance(5);
    release();
    const results = await Promise.all(answers);

    expect(distinct.size).toBe(159);
    const calls = xCalls(h, '/2/users');
    expect(calls).toHaveLength(Math.ceil(distinct.size / 100));
    expect(new Set(calls.flatMap(idsOf))).toEqual(distinct);
    expect(calls.flatMap(idsOf)).toHaveLength(distinct.size); // no id asked twice
    results.forEach((result, i) => {
      expect(result.body.errors).toBeUndefined();
      expect(result.body.data.xUsers.map((u: { id: string }) => u.id)).toEqual(lists[i]);
      expect(result.body.data.xUsers.map((u: { username: string }) => u.username)).toEqual(
        lists[i]!.map((id) => demoXUsername(Number(id))),
      );
    });
  });
});

it('a request whose ids are on their way in another request’s call waits for that call, and asks nothing more', async () => {
  const clock = new ManualClock();
  h = await startHarness({ env: { COALESCE_WINDOW_MS: '5' }, clock });
  const query = 'query($ids: [ID!]!) { xUsers(ids: $ids) { id } }';
  const release = h.emulator('x').holdReplies();
  const before = await resolutionsOf('x');
  const first = h.gql(query, { ids: ['1', '2'] });
  await untilResolutions('x', before, 2);
  await clock.advance(5);
  // The first call is on the wire, its answer held back by the emulator.
  for (let i = 0; i < 400 && xCalls(h).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  const second = h.gql(query, { ids: ['2', '1'] });
  await untilResolutions('x', before + 2, 2);
  await clock.advance(5);
  release();
  const [a, b] = await Promise.all([first, second]);
  expect(xCalls(h)).toHaveLength(1);
  expect(a.body.data.xUsers).toEqual([{ id: '1' }, { id: '2' }]);
  expect(b.body.data.xUsers).toEqual([{ id: '2' }, { id: '1' }]);
});

it('errors stay with the request whose ids they are about', async () => {
  const clock = new ManualClock();
  h = await startHarness({ env: { COALESCE_WINDOW_MS: '5' }, emulators: { x: { suspendedIds: ['13'] } }, clock });
  const before = await resolutionsOf('x');
  const query = 'query($ids: [ID!]!) { xUsers(ids: $ids) { id } }';
  const clean = h.gql(query, { ids: ['11', '12'] });
  const troubled = h.gql(query, { ids: ['12', '13', '99999'] });
  await untilResolutions('x', before, 5);
  await clock.advance(5);
  const [a, b] = await Promise.all([clean, troubled]);
  expect(xCalls(h)).toHaveLength(1);
  expect(a.body).toEqual({ data: { xUsers: [{ id: '11' }, { id: '12' }] } });
  expect(b.body.data.xUsers).toEqual([{ id: '12' }, null, null]);
  expect(b.body.errors!.map((e) => [e.path, e.extensions!.code, e.extensions!.id])).toEqual([
    [['xUsers', 1], 'SUSPENDED', '13'],
    [['xUsers', 2], 'NOT_FOUND', '99999'],
  ]);
});
