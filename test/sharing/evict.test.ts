import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { startOwnRedis, uniquePrefix } from '../../src/testing/redis.js';
import { type Harness, startHarness } from '../support/harness.js';
import { idsOf, xCalls } from '../support/x.js';

/** `POST /cache/evict`: an authenticated way to drop cached records before their TTL. */

const TOKEN = 'admin-token-0123456789abcdef';
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { X_CACHE: '1', TELEGRAM_CACHE: '1', CACHE_ADMIN_TOKEN: TOKEN } });
});
afterAll(() => h.close());
beforeEach(async () => {
  await evict({ all: true });
  h.reset();
});

async function evict(body: unknown, token = TOKEN, method = 'POST') {
  const res = await fetch(`${h.url}/cache/evict`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(method === 'POST' ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const warm = () => h.gql('{ xUsers(ids: ["1", "2", "3"]) { id } telegramUsers(ids: ["1"]) { id } }');

it('evicts one id of one provider: only that id is fetched again', async () => {
  await warm();
  expect(await evict({ provider: 'x', id: '2' })).toEqual({ status: 200, body: { evicted: 1 } });
  await warm();
  expect(xCalls(h).map(idsOf)).toEqual([['1', '2', '3'], ['2']]);
  expect(h.emulator('telegram').rpcs).toHaveLength(1);
});

it('evicts a provider, or everything', async () => {
  await warm();
  expect(await evict({ provider: 'x' })).toEqual({ status: 200, body: { evicted: 3 } });
  await warm();
  expect(xCalls(h)).toHaveLength(2);
  expect(h.emulator('telegram').rpcs).toHaveLength(1);
  expect(await evict({ all: true })).toEqual({ status: 200, body: { evicted: 4 } });
});

it('normalizes the id as the lookup does (usernames in any case)', async () => {
  await h.gql('{ xUsersByUsername(usernames: ["User7"]) { id } }');
  // The user by username, and the same user primed into the id lookup: both are the user's entries.
  expect((await evict({ provider: 'x', id: 'USER7' })).body).toEqual({ evicted: 2 });
});

it('evicting a user by id evicts its entry by username too (issue 20: it was served on for up to 75 minutes)', async () => {
  await h.gql('{ xUsersByUsername(usernames: ["User7"]) { id username } }');
  await h.gql('{ xUsers(ids: ["7"]) { id username } }');
  expect(xCalls(h)).toHaveLength(1); // the id lookup was answered by the record the username lookup primed
  expect((await evict({ provider: 'x', id: '7' })).body).toEqual({ evicted: 2 });
  await h.gql('{ xUsersByUsername(usernames: ["User7"]) { id username } }');
  expect(xCalls(h)).toHaveLength(2);
});

it('refuses without the token, with a wrong one, and for bad requests; nothing is evicted', async () => {
  await warm();
  expect((await evict({ all: true }, 'wrong-token-0123456789abcdef')).status).toBe(401);
  expect((await evict({ all: true }, '')).status).toBe(401);
  expect((await evict({}, TOKEN)).status).toBe(400);
  expect((await evict({ provider: 'nope' }, TOKEN)).status).toBe(400);
  expect((await evict({ provider: 'x', id: '1|*' }, TOKEN)).status).toBe(400);
  expect((await evict({ provider: 'x', id: 'a'.repeat(300) }, TOKEN)).status).toBe(400);
  expect((await evict('{not json', TOKEN)).status).toBe(400);
  expect((await evict('x'.repeat(10_000), TOKEN)).status).toBe(413);
  expect((await evict(undefined, TOKEN, 'GET')).status).toBe(405);
  await warm();
  expect(xCalls(h)).toHaveLength(1);
  expect(h.logs.join('\n')).not.toContain(TOKEN);
});

it('is off without CACHE_ADMIN_TOKEN', async () => {
  const other = await startHarness({ env: { X_CACHE: '1' } });
  try {
    const res = await fetch(`${other.url}/cache/evict`, { method: 'POST', body: '{"all":true}' });
    expect(res.status).toBe(404);
  } finally {
    await other.close();
  }
});

it('answers 503 with the reason when Redis cannot be reached, evicting this process only', async () => {
  const own = await startOwnRedis();
  const r = await startHarness({
    env: {
      X_CACHE: '1',
      CACHE_ADMIN_TOKEN: TOKEN,
      REDIS_URL: own.url,
      REDIS_KEY_PREFIX: uniquePrefix('evict'),
      REDIS_COMMAND_TIMEOUT_MS: '200',
    },
  });
  try {
    await r.gql('{ xUsers(ids: ["1"]) { id } }');
    await own.kill();
    const res = await fetch(`${r.url}/cache/evict`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'x', id: '1' }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toEqual({ error: expect.stringContaining('Redis could not be reached'), evictedHere: expect.any(Number) });
  } finally {
    await r.close();
    await own.close();
  }
});
