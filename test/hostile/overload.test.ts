import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Harness, startHarness } from '../support/harness.js';

/**
 * A bound on operations in flight (issue 20, finding 4): beyond MAX_OPERATIONS_IN_FLIGHT a request is
 * turned away at once with 503 OVERLOADED and Retry-After, instead of queueing behind the others, and
 * `/health` answers all the while.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { MAX_OPERATIONS_IN_FLIGHT: '2' } });
});
afterAll(() => h.close());

it('past MAX_OPERATIONS_IN_FLIGHT, 503 OVERLOADED with Retry-After at once; /health never waits', async () => {
  // X answers slowly: the first operations are still in flight when the others arrive.
  h.emulator('x').failNext(5, { kind: 'slow', ms: 1_000 });
  const operations = Array.from({ length: 5 }, (_, i) =>
    fetch(`${h.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ xUsers(ids: ["${i + 1}"]) { id } }` }),
    }),
  );
  const refused: Response[] = [];
  const answered: Response[] = [];
  const health = await fetch(`${h.url}/health`);
  expect(health.status).toBe(200);
  for (const response of await Promise.all(operations)) (response.status === 503 ? refused : answered).push(response);
  expect(answered.map((response) => response.status)).toEqual([200, 200]);
  expect(refused).toHaveLength(3);
  for (const response of refused) {
    expect(response.headers.get('retry-after')).toBe('1');
    expect(((await response.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe('OVERLOADED');
  }
});
