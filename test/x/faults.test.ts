import { afterEach, describe, expect, it } from 'vitest';
import { X_TEST_TOKEN } from '../../src/providers/x/emulator/index.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { demoIds, type Harness, startHarness } from '../support/harness.js';
import { xCalls } from '../support/x.js';

/**
 * An upstream fault gives partial data with typed errors at each affected index — never a crash, a
 * hang, or a leaked credential. Each test gets its own subgraph: the client remembers X's rate-limit
 * state across requests, as it must. A 5xx or a timeout at every attempt, as every provider meets them:
 * the conformance suite's fault matrix, test/conformance/.
 */
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const mixed = `{
  byId: xUsers(ids: ["1", "2"]) { id name }
  byName: xUsersByUsername(usernames: ["user3"]) { id name }
}`;

function codesAt(errors: Array<{ path?: Array<string | number>; extensions?: Record<string, any> }> = []) {
  return Object.fromEntries(errors.map((e) => [e.path?.join('.'), e.extensions?.code]));
}

describe('rate limits', () => {
  it('a 429 whose reset is far away fails its ids at once with RATE_LIMITED and retryAfter; other lookups still answer', async () => {
    h = await startHarness();
    const reset = Math.floor(Date.now() / 1000) + 600;
    h.emulator('x').setRemaining('/2/users', 0, reset);
    const { status, body } = await h.gql(mixed); // no waiting out a 10-minute window: the test would time out
    expect(status).toBe(200);
    expect(body.data).toEqual({ byId: [null, null], byName: [{ id: '3', name: 'Demo User 3' }] });
    expect(codesAt(body.errors)).toEqual({ 'byId.0': 'RATE_LIMITED', 'byId.1': 'RATE_LIMITED' });
    const retryAfter = body.errors![0]!.extensions!.retryAfter;
    expect(retryAfter).toBeGreaterThan(590);
    expect(retryAfter).toBeLessThanOrEqual(601);
    expect(xCalls(h, '/2/users')).toHaveLength(1);

    // X said the window is spent: the next operation does not spend another call to hear it again.
    const again = await h.gql('{ xUsers(ids: ["4"]) { id } }');
    expect(again.body.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', provider: 'x', id: '4' });
    expect(xCalls(h, '/2/users')).toHaveLength(1);
  });

  it('a 429 whose reset is within the wait cap is waited out and retried once', async () => {
    // One manual clock for the subgraph and X's emulator: the reset is exactly a second away, and the
    // wait passes by moving the clock, never by racing the wall clock.
    const clock = new ManualClock(Date.UTC(2025, 5, 2, 12, 0, 0));
    h = await startHarness({
      env: { UPSTREAM_MAX_RETRY_WAIT_MS: '2500' },
      clock,
      emulators: { x: { clock: { now: () => clock.wallNow() } } },
    });
    h.emulator('x').setRemaining('/2/users', 0, clock.wallNow() / 1000 + 1);
    const { body } = await clock.run(h.gql('{ xUsers(ids: ["1", "2"]) { id } }'));
    expect(body.errors).toBeUndefined();
    expect(body.data.xUsers).toEqual([{ id: '1' }, { id: '2' }]);
    expect(xCalls(h, '/2/users').map((r) => r.status)).toEqual([429, 200]);
    expect(clock.now()).toBeGreaterThanOrEqual(1000);
  });
});

describe('outages', () => {
  it('a 503 is retried and the operation succeeds', async () => {
    h = await startHarness();
    h.emulator('x').failNext(1, 503);
    const { body } = await h.gql('{ xUsers(ids: ["1"]) { id } }');
    expect(body.errors).toBeUndefined();
    expect(xCalls(h, '/2/users').map((r) => r.status)).toEqual([503, 200]);
  });

  it('an upstream that is not listening gives UPSTREAM_UNAVAILABLE', async () => {
    h = await startHarness({ env: { UPSTREAM_MAX_ATTEMPTS: '2' } });
    await h.emulator('x').close();
    const { status, body } = await h.gql('{ xUsers(ids: ["1", "2"]) { id } }');
    expect(status).toBe(200);
    expect(codesAt(body.errors)).toEqual({ 'xUsers.0': 'UPSTREAM_UNAVAILABLE', 'xUsers.1': 'UPSTREAM_UNAVAILABLE' });
  });
});

describe('credentials', () => {
  it('a token X rejects gives UNAUTHENTICATED once, without retrying, and the token is nowhere to be seen', async () => {
    const wrongToken = 'WRONG-token-Zm9vYmFyYmF6cXV4';
    h = await startHarness({ env: { X_BEARER_TOKEN: wrongToken } });
    const { status, body } = await h.gql(mixed);
    expect(status).toBe(200);
    expect(codesAt(body.errors)).toEqual({ 'byId.0': 'UNAUTHENTICATED', 'byId.1': 'UNAUTHENTICATED', 'byName.0': 'UNAUTHENTICATED' });
    expect(xCalls(h).map((r) => r.status)).toEqual([401, 401]);

    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    for (const text of [JSON.stringify(body), h.logs.join('\n'), metrics]) {
      expect(text).not.toContain(wrongToken);
      expect(text).not.toContain(X_TEST_TOKEN);
    }
  });

  it('no log line, error or metric carries the token on the happy path with debug logging either', async () => {
    h = await startHarness();
    h.emulator('x').failNext(1, 500);
    const { body } = await h.gql('{ xUsers(ids: ["1", "9999999"]) { id } }');
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(h.logs.length).toBeGreaterThan(0);
    for (const text of [JSON.stringify(body), h.logs.join('\n'), metrics]) expect(text).not.toContain(X_TEST_TOKEN);
  });
});

describe('metrics', () => {
  it('count every upstream request with its status, and observe batch sizes', async () => {
    h = await startHarness();
    const read = async () => (await fetch(`${h!.url}/metrics`)).text();
    const sample = (text: string, pattern: RegExp) => Number(text.match(pattern)?.[1] ?? 0);
    const requests503 = /users_subgraph_upstream_requests_total\{provider="x",method="GET \/2\/users",status="503"\} (\d+)/;
    const requests200 = /users_subgraph_upstream_requests_total\{provider="x",method="GET \/2\/users",status="200"\} (\d+)/;
    const batchCount = /users_subgraph_upstream_batch_size_count\{provider="x"\} (\d+)/;
    const batchSum = /users_subgraph_upstream_batch_size_sum\{provider="x"\} (\d+)/;
    const before = await read();
    h.emulator('x').failNext(1, 503);
    await h.gql('query($ids: [ID!]!) { xUsers(ids: $ids) { id } }', { ids: demoIds(150) });
    const after = await read();
    expect(sample(after, requests503) - sample(before, requests503)).toBe(1);
    expect(sample(after, requests200) - sample(before, requests200)).toBe(2);
    expect(sample(after, batchCount) - sample(before, batchCount)).toBe(2);
    expect(sample(after, batchSum) - sample(before, batchSum)).toBe(150);
  });
});
