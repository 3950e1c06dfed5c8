import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { ErrorCode } from '../../src/core/errors.js';
import { kits } from '../../src/providers/kits.js';
import { type GqlResult, type Harness, type HarnessOptions, startHarness } from '../support/harness.js';

/**
 * X's circuit breaker, through the real server: two operations that find X unavailable open it, calls then
 * fail fast until the cool-down, one trial is let through, and success closes it; every other provider
 * answers throughout. (Every provider's faults one by one: the conformance suite, test/conformance/.)
 */

const ATTEMPTS = 2;
const RETRY_WAIT_MS = 300;

/** Two users of every registered provider, so that X's failures show beside the others' data. */
const OPERATION = `{ ${kits
  .map(
    ({ name, conformance: { root, known, selections } }) =>
      `${name}: ${root.field}(${root.argument}: ${JSON.stringify(known(2))}) { ${selections[0]!.selection} }`,
  )
  .join(' ')} }`;

type GqlError = NonNullable<GqlResult<unknown>['body']['errors']>[number];
const byPath = (a: GqlError, b: GqlError) => JSON.stringify(a.path).localeCompare(JSON.stringify(b.path));

/** The errors when X's lookup failed with `code`: one per id, nothing else. */
function errorsAt(provider: 'x', code: ErrorCode, retryAfter: number | undefined) {
  return ['1', '2'].map((id, index) => ({
    message: expect.any(String),
    locations: expect.any(Array),
    path: [provider, index],
    extensions: { code, provider, id, ...(retryAfter === undefined ? {} : { retryAfter }) },
  }));
}

/** Runs `test` against a fresh subgraph and its emulators, closed whatever happens. */
async function withHarness(options: HarnessOptions, test: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness(options);
  try {
    await test(h);
  } finally {
    await h.close();
  }
}

/** Every provider answers: the data every later operation is compared with (and tokens are obtained). */
async function baseline(harness: Harness): Promise<Record<string, unknown>> {
  const first = await harness.gql(OPERATION);
  expect(first.status).toBe(200);
  expect(first.body.errors).toBeUndefined();
  harness.reset();
  return first.body.data;
}

describe('circuit breaker', () => {
  it("two operations that find X unavailable open X's circuit: calls fail fast until the cool-down, then one is let through and success closes it", async () => {
    // cockatiel times the cool-down on Date.now(): move it instead of waiting 60 s.
    let skewMs = 0;
    const realNow = Date.now.bind(Date);
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + skewMs);
    onTestFinished(() => spy.mockRestore());
    const options: HarnessOptions = {
      env: {
        UPSTREAM_CIRCUIT_FAILURES: '2',
        UPSTREAM_CIRCUIT_COOL_DOWN_MS: '60000',
        UPSTREAM_MAX_ATTEMPTS: String(ATTEMPTS),
        UPSTREAM_MAX_RETRY_WAIT_MS: String(RETRY_WAIT_MS),
      },
    };
    await withHarness(options, async (harness) => {
      const x = harness.emulator('x');
      const data = await baseline(harness);
      const circuitOf = async () => {
        const res = await fetch(`${harness.url}/ready`);
        const body = (await res.json()) as { circuits: Array<{ provider: string; scope: string; state: string }> };
        return { status: res.status, x: body.circuits.filter((c) => c.provider === 'x') };
      };
      const gauge = async () => {
        const text = await (await fetch(`${harness.url}/metrics`)).text();
        return /^users_subgraph_upstream_circuit_state\{provider="x",scope=""\} (\d+)$/m.exec(text)?.[1];
      };
      const xFails = async (response: GqlResult<any>, retryAfter?: number) => {
        expect(response.status).toBe(200);
        expect(response.body.data).toEqual({ ...data, x: [null, null] });
        expect([...(response.body.errors ?? [])].sort(byPath)).toEqual(errorsAt('x', 'UPSTREAM_UNAVAILABLE', retryAfter));
      };

      // Two operations find X unavailable, each after its attempts: the second opens the circuit.
      x.failNext(2 * ATTEMPTS, 503);
      await xFails(await harness.gql(OPERATION));
      expect(await circuitOf()).toEqual({ status: 200, x: [{ provider: 'x', scope: '', state: 'closed' }] });
      await xFails(await harness.gql(OPERATION));
      expect(x.requests).toHaveLength(2 * ATTEMPTS);

      // The third fails fast: no request reaches X, the error says when to come back, the other providers answer.
      await xFails(await harness.gql(OPERATION), 60);
      expect(x.requests).toHaveLength(2 * ATTEMPTS);
      // An open circuit does not make the subgraph unready: its other providers still answer.
      expect(await circuitOf()).toEqual({ status: 200, x: [{ provider: 'x', scope: '', state: 'open' }] });
      expect(await gauge()).toBe('2');

      // After the cool-down one call is let through to try; the operation's other X lookup waits for it. The trial
      // fails: the circuit opens again, and the waiting lookup fails fast without a request of its own.
      skewMs += 60_001;
      harness.reset();
      x.failNext(ATTEMPTS, 503);
      const trial = await harness.gql('{ byId: xUsers(ids: ["1"]) { id } byName: xUsersByUsername(usernames: ["user2"]) { id } }');
      expect(trial.body.data).toEqual({ byId: [null], byName: [null] });
      const codes = (trial.body.errors ?? []).map((e) => ({ code: e.extensions!.code, retryAfter: e.extensions!.retryAfter }));
      expect(codes).toEqual(
        expect.arrayContaining([
          { code: 'UPSTREAM_UNAVAILABLE', retryAfter: undefined },
          { code: 'UPSTREAM_UNAVAILABLE', retryAfter: 60 },
        ]),
      );
      expect(codes).toHaveLength(2);
      expect(x.requests).toHaveLength(ATTEMPTS);
      expect(new Set(x.requests.map((r) => r.path)).size).toBe(1);
      expect(await circuitOf()).toEqual({ status: 200, x: [{ provider: 'x', scope: '', state: 'open' }] });

      // After the next cool-down the trial succeeds, with one request, and closes the circuit.
      skewMs += 60_001;
      harness.reset();
      const recovered = await harness.gql(OPERATION);
      expect(recovered).toEqual({ status: 200, body: { data } });
      expect(x.requests.map((r) => r.path)).toEqual(['/2/users']);
      expect(await circuitOf()).toEqual({ status: 200, x: [{ provider: 'x', scope: '', state: 'closed' }] });
      expect(await gauge()).toBe('0');
    });
  });
});
