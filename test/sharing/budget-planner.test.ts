import { afterEach, describe, expect, it } from 'vitest';
import { startHarness } from '../support/harness.js';
import { TestClock } from '../support/test-clock.js';
import { xCalls } from '../support/x.js';

/**
 * The budget planner over HTTP (docs/upstream-budget.md), against an X emulator whose window holds three
 * calls per 15 minutes: the window is spent by the subgraph's own count, not by a 429, and what cannot be
 * asked answers RATE_LIMITED with the wait until the reset, or a stale record where the cache has one.
 */

const USERS = 'query Users($ids: [ID!]!) { xUsers(ids: $ids) { id name } }';
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function threeCallWindow(env: Record<string, string> = {}) {
  const clock = new TestClock();
  const h = await startHarness({
    clock,
    env: { X_CACHE: '1', X_CACHE_TTL_SECONDS: '60', UPSTREAM_MAX_HOLD_MS: '0', ...env },
    emulators: { x: { clock: clock.frozen, rateLimit: { limit: 3, windowSeconds: 900 } } },
  });
  closers.push(() => h.close());
  return { h, clock };
}

describe('the budget planner over HTTP, X holding 3 calls per 15 minutes', () => {
  it('spends the window to its last call and no further: no 429 reaches X; then RATE_LIMITED with the wait, a stale record where cached, and calls again after the reset', async () => {
    const { h, clock } = await threeCallWindow();
    expect((await h.gql(USERS, { ids: ['1'] })).body).toEqual({ data: { xUsers: [{ id: '1', name: 'Demo User 1' }] } });
    // User 1's record is past its 60 s but within its stale window; the window resets 900 s after it opened.
    clock.advance(120_000);
    for (const id of ['2', '3']) expect((await h.gql(USERS, { ids: [id] })).body.errors).toBeUndefined();
    expect(xCalls(h)).toHaveLength(3);

    const spent = await h.gql(USERS, { ids: ['1', '4'] });
    expect(xCalls(h)).toHaveLength(3);
    expect(h.emulator('x').requests.filter((request) => request.status === 429)).toEqual([]);
    expect(spent.body.data.xUsers).toEqual([{ id: '1', name: 'Demo User 1' }, null]);
    expect(spent.body.errors).toEqual([
      expect.objectContaining({
        path: ['xUsers', 1],
        extensions: { code: 'RATE_LIMITED', provider: 'x', id: '4', retryAfter: 780 },
      }),
    ]);
    expect((spent.body as { extensions?: unknown }).extensions).toEqual({
      stale: [{ provider: 'x', id: '1', ageSeconds: 120, fields: ['id', 'name'] }],
    });

    clock.advance(780_000);
    const after = await h.gql(USERS, { ids: ['4'] });
    expect(after.body).toEqual({ data: { xUsers: [{ id: '4', name: 'Demo User 4' }] } });
    expect(xCalls(h)).toHaveLength(4);
  });

  it('beyond UPSTREAM_MAX_QUEUED_IDS an id answers RATE_LIMITED at once, without a call, while the others wait their turn', async () => {
    // Held two seconds (the window cannot afford a partial call at its pace), queue of 3: a fourth id is refused.
    const { h } = await threeCallWindow({ UPSTREAM_MAX_HOLD_MS: '2000', UPSTREAM_MAX_QUEUED_IDS: '3' });
    const answer = await h.gql(USERS, { ids: ['1', '2', '3', '4'] });
    expect(answer.body.data.xUsers.slice(0, 3)).toEqual(['1', '2', '3'].map((id) => ({ id, name: `Demo User ${id}` })));
    expect(answer.body.data.xUsers[3]).toBeNull();
    expect(answer.body.errors).toEqual([
      expect.objectContaining({ path: ['xUsers', 3], extensions: expect.objectContaining({ code: 'RATE_LIMITED', id: '4' }) }),
    ]);
    expect(xCalls(h)).toHaveLength(1);
  });
});
