import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../support/harness.js';

/**
 * The `Cache-Control` header the layers above (Apollo Router's response cache, a gateway or CDN cache)
 * read: from the `@cacheControl` hints of what the document selects, `private` where the answer is
 * the caller's own, `no-store` where it must not be reused.
 */

let h: Harness;
const ALICE = 'alice-user-token-0123456789';
beforeAll(async () => {
  h = await startHarness({
    emulators: { x: { userTokens: [{ name: 'alice', token: ALICE }] } },
    env: { TELEGRAM_CACHE_TTL_SECONDS: '300' },
  });
});
afterAll(() => h.close());

async function cacheControlOf(query: string, init: { method?: 'GET' | 'POST'; headers?: Record<string, string> } = {}) {
  const headers = { 'content-type': 'application/json', 'apollo-require-preflight': 'true', ...init.headers };
  const res =
    init.method === 'GET'
      ? await fetch(`${h.url}/graphql?query=${encodeURIComponent(query)}`, { headers })
      : await fetch(`${h.url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query }) });
  const body = (await res.json()) as { errors?: unknown };
  return { header: res.headers.get('cache-control'), errors: body.errors };
}

describe('Cache-Control', () => {
  it.each([
    ['{ xUsers(ids: ["1"]) { id name pinnedTweet { text } } }', 'max-age=900, public'],
    // The type's hint (600) capped by TELEGRAM_CACHE_TTL_SECONDS.
    ['{ telegramUsers(ids: ["1"]) { id firstName } }', 'max-age=300, public'],
    ['{ telegramUsers(ids: ["1"]) { id status { presence } } }', 'max-age=60, public'],
    ['{ nexudusUsers(ids: ["1"]) { id email } }', 'max-age=600, private'],
    ['{ _service { sdl } }', 'no-store'],
  ])('%s → %s', async (query, expected) => {
    const { header, errors } = await cacheControlOf(query);
    expect(errors).toBeUndefined();
    expect(header).toBe(expected);
  });

  it('is the same for GET, the method a CDN caches', async () => {
    expect((await cacheControlOf('{ xUsers(ids: ["1"]) { id } }', { method: 'GET' })).header).toBe('max-age=900, public');
  });

  it('is no-store for an answer with errors: a missing user, or bad input', async () => {
    const missing = await cacheControlOf('{ xUsers(ids: ["1", "99999"]) { id } }');
    expect(missing.errors).toBeDefined();
    expect(missing.header).toBe('no-store');
    expect((await cacheControlOf('{ xUsers(ids: ["x"]) { id } }')).header).toBe('no-store');
    expect((await cacheControlOf('{ nope }')).header).toBe('no-store');
  });

  it("is private for an answer made with the caller's own credential, public for the same document without one", async () => {
    const query = '{ xUsers(ids: ["1"]) { id name } }';
    const own = await cacheControlOf(query, { headers: { 'x-caller-x-token': ALICE } });
    expect(own.errors).toBeUndefined();
    expect(own.header).toBe('max-age=900, private');
    expect((await cacheControlOf(query)).header).toBe('max-age=900, public');
  });
});
