import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../src/core/errors.js';
import type { FaultCase, ProviderKit } from '../../src/providers/kit.js';
import { type GqlResult, type Harness, type HarnessOptions, startHarness } from '../support/harness.js';
import { TestClock } from '../support/test-clock.js';

/**
 * What every provider must do, written once and asked of each provider in the registry from the data of
 * its test kit (`src/providers/<name>/conformance.ts`): a provider added to the registry is tested here
 * without a line of test of its own. Through the real server over HTTP against the provider's emulator,
 * counting the upstream calls of every operation:
 *
 * - lookups: batching to the provider's limit, repeats and aliases and fragments and `_entities` sharing
 *   one call, NOT_FOUND at its own index, field pushdown (only what is selected is asked for);
 * - input: hostile ids refused before any call, whichever way they come in;
 * - caps: MAX_IDS_PER_OPERATION, and PROVIDER_NOT_CONFIGURED without credentials;
 * - the record cache: invisible in answers (a property against the same server without it), and a
 *   repeated operation costs nothing;
 * - cancellation: a hanging upstream ends at the operation's deadline, with one attempt; a client that goes
 *   away while its lookup is at the upstream leaves no work behind (the call cut off, nothing sent after it);
 * - faults: every way its upstream fails gives the error its kit names, at every id and nowhere else,
 *   leaks nothing, and the next operation recovers.
 */

/** Any provider's kit, each with its own emulator types. */
export type AnyKit = ProviderKit<any, any>;

/** Values no provider takes as an id (a leading zero is no exception: X's own pattern allows one). */
const HOSTILE = ['1&user.fields=x', '2,3&user.fields=description', '../admin', '1/../2', '%2F', ' 7', '-1', '1e3', '１２', '1\n2'];

/** The fault matrix's budget: attempts per call, and a timeout far above any emulator's normal answer yet short to wait for. */
const ATTEMPTS = 2;
const TIMEOUT_MS = 1_000;
const RETRY_WAIT_MS = 300;

type Answer = GqlResult<Record<string, unknown>>;
type GqlError = NonNullable<Answer['body']['errors']>[number];
const byPath = (a: GqlError, b: GqlError) => JSON.stringify(a.path).localeCompare(JSON.stringify(b.path));

/** Resolves once `condition` holds, checking as the event loop turns (a test timeout ends a wait that never does). */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** Operations the server is answering now, and upstream calls of `provider` cut off because their caller gave up (all methods). */
async function metricsOf(h: Harness, provider: string): Promise<{ inFlight: number; aborted: number }> {
  const text = await (await fetch(`${h.url}/metrics`)).text();
  const inFlight = Number(/^users_subgraph_operations_in_flight (\d+)/m.exec(text)?.[1] ?? Number.NaN);
  const cutOff = new RegExp(
    `^users_subgraph_upstream_requests_total\\{provider="${provider}",method="[^"]*",status="aborted"\\} (\\d+)`,
    'gm',
  );
  const aborted = [...text.matchAll(cutOff)].reduce((sum, match) => sum + Number(match[1]), 0);
  return { inFlight, aborted };
}

/** Registers the conformance tests of `kit`'s provider; `registered`: every provider served beside it (the registry's). */
export function describeConformance(kit: AnyKit, registered: readonly AnyKit[]): void {
  const c = kit.conformance;
  const name = kit.provider.id.name;
  const { field, argument } = c.root;
  const key = c.selections[0]!.selection;
  const CACHE = `${name.toUpperCase()}_CACHE`;
  const list = (selection: string) => `query($ids: [ID!]!) { ${field}(${argument}: $ids) { ${selection} } }`;
  const representation = (id: unknown) => ({ __typename: c.entity.typename, id, ...c.entity.representation });
  const entities = `query($r: [_Any!]!) { _entities(representations: $r) { ... on ${c.entity.typename} { id } } }`;
  const handle = (h: Harness) => h.emulators.running.get(kit.name)!.handle;
  const lookups = (h: Harness) => c.lookups(handle(h));
  const idsOf = (items: unknown) => (items as Array<{ id: string } | null>).map((item) => item?.id ?? null);
  const errorAt = (path: Array<string | number>, code: ErrorCode, id: string, more: Record<string, unknown> = {}) =>
    expect.objectContaining({ path, extensions: { code, provider: name, id, ...more } });

  describe(`${name}: lookups`, () => {
    let h: Harness;
    const max = 2 * c.batching.idsPerCall + 1;
    beforeAll(async () => {
      h = await startHarness({ kits: [kit], env: { ...c.batching.env, MAX_IDS_PER_OPERATION: String(Math.max(1000, max)) } });
    });
    afterAll(() => h.close());
    beforeEach(() => h.reset());

    it(`${2 * c.batching.idsPerCall + 1} ids: 3 calls of at most ${c.batching.idsPerCall}, each id asked once, answers aligned`, async () => {
      const ids = c.known(max);
      const { status, body } = await h.gql(list(key), { ids });
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
      expect(idsOf(body.data[field])).toEqual(ids);
      const calls = lookups(h);
      expect(calls).toHaveLength(3);
      for (const call of calls) expect(call.ids.length).toBeLessThanOrEqual(c.batching.idsPerCall);
      expect(calls.flatMap((call) => call.ids).sort()).toEqual([...ids].sort());
    });

    it('repeats, aliases, fragments and _entities representations of the same users share one call', async () => {
      const [a, b, d, e] = c.known(4, 11);
      const { body } = await h.gql(
        `query($r: [_Any!]!) {
          first: ${field}(${argument}: ["${a}", "${b}", "${a}"]) { ...Key }
          second: ${field}(${argument}: ["${b}", "${d}"]) { ... on ${c.entity.typename} { ${key} } }
          _entities(representations: $r) { ... on ${c.entity.typename} { id } }
        }
        fragment Key on ${c.entity.typename} { ${key} }`,
        { r: [representation(d), representation(e), representation(a)] },
      );
      expect(body.errors).toBeUndefined();
      expect(idsOf(body.data.first)).toEqual([a, b, a]);
      expect(idsOf(body.data.second)).toEqual([b, d]);
      expect(idsOf(body.data._entities)).toEqual([d, e, a]);
      const calls = lookups(h);
      expect(calls).toHaveLength(1);
      expect([...calls[0]!.ids].sort()).toEqual([a!, b!, d!, e!].sort());
    });

    it('an id it does not know answers null and NOT_FOUND at its own index; the others keep theirs', async () => {
      const [a, b] = c.known(2, 21);
      const { status, body } = await h.gql(list(key), { ids: [a, c.unknown, b, a] });
      expect(status).toBe(200);
      expect(idsOf(body.data[field])).toEqual([a, null, b, a]);
      expect(body.errors).toEqual([errorAt([field, 1], 'NOT_FOUND', c.unknown)]);
      expect(lookups(h)).toHaveLength(1);

      h.reset();
      const { body: entityBody } = await h.gql(entities, { r: [representation(b), representation(c.unknown), representation(a)] });
      expect(idsOf(entityBody.data._entities)).toEqual([b, null, a]);
      expect(entityBody.errors).toEqual([errorAt(['_entities', 1], 'NOT_FOUND', c.unknown)]);
      expect(lookups(h)).toHaveLength(1);
    });

    for (const { selection, asks, perId } of c.selections) {
      it(`asks for what \`{ ${selection} }\` needs and nothing more: ${asks === '' ? 'no field' : asks}${perId ? ', one call per id' : ''}`, async () => {
        const ids = c.known(2, 31);
        const { body } = await h.gql(list(selection), { ids });
        expect(body.errors).toBeUndefined();
        expect(idsOf(body.data[field])).toEqual(ids);
        const calls = lookups(h);
        expect(calls).toHaveLength(perId ? ids.length : 1);
        for (const call of calls) expect(call.asks).toBe(asks);
        expect(calls.flatMap((call) => call.ids).sort()).toEqual([...ids].sort());
      });
    }

    /** Runs the operation; asserts a 200 whose every error is BAD_USER_INPUT, and that the upstream saw nothing. */
    async function refused(query: string, variables?: Record<string, unknown>): Promise<GqlError[]> {
      const { status, body } = await h.gql(query, variables);
      expect(status).toBe(200);
      expect(body.errors?.length).toBeGreaterThan(0);
      for (const error of body.errors!) expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
      expect(c.requests(handle(h))).toEqual([]);
      return body.errors!;
    }
    const hostile = [...HOSTILE, ...c.invalid];
    const selected = `${field}(${argument}: $v) { ${key} }`;

    it('a hostile id fails alone with BAD_USER_INPUT, at its index, and is never sent', async () => {
      const [a] = c.known(1, 41);
      const { body } = await h.gql(list(key), { ids: [hostile[0], a, ...hostile.slice(1)] });
      expect(idsOf(body.data[field])).toEqual([null, a, ...hostile.slice(1).map(() => null)]);
      expect(body.errors).toHaveLength(hostile.length);
      for (const error of body.errors!) expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', provider: name });
      expect(lookups(h).flatMap((call) => call.ids)).toEqual([a]);
    });

    it('whichever way it comes in: a scalar for a list, a default value, fragments, aliases, @include, _entities', async () => {
      for (const value of hostile) await refused(`query($v: [ID!]!) { ${selected} }`, { v: value });
      expect(await refused(`query($v: [ID!]! = ${JSON.stringify(hostile)}) { ${selected} }`)).toHaveLength(hostile.length);
      await refused(`query($v: [ID!]!) { ...Q } fragment Q on Query { aliased: ${selected} }`, { v: hostile });
      await refused(`query($v: [ID!]!) { ... on Query { ... { ${selected} } } }`, { v: hostile });
      await refused(`query($v: [ID!]!, $on: Boolean!) { a: ${field}(${argument}: $v) @include(if: $on) { ${key} } }`, {
        v: hostile,
        on: true,
      });
      const reps = [...hostile.map(representation), representation({ $gt: '' }), { __typename: c.entity.typename }];
      expect(await refused(entities, { r: reps })).toHaveLength(reps.length);
    });
  });

  describe(`${name}: caps`, () => {
    it('beyond MAX_IDS_PER_OPERATION distinct ids, each id fails alone with BAD_USER_INPUT and costs nothing; repeats count once', async () => {
      const h = await startHarness({ kits: [kit], env: { MAX_IDS_PER_OPERATION: '3' } });
      try {
        const [a, b, d, e, f] = c.known(5, 51);
        const { status, body } = await h.gql(
          `{ first: ${field}(${argument}: ["${a}", "${b}", "${a}", "${b}"]) { ${key} } second: ${field}(${argument}: ["${d}", "${e}", "${f}"]) { ${key} } }`,
        );
        expect(status).toBe(200);
        expect(idsOf(body.data.first)).toEqual([a, b, a, b]);
        expect(idsOf(body.data.second)).toEqual([d, null, null]);
        expect([...body.errors!].sort(byPath)).toEqual([
          errorAt(['second', 1], 'BAD_USER_INPUT', e!, { limit: 'MAX_IDS_PER_OPERATION', max: 3 }),
          errorAt(['second', 2], 'BAD_USER_INPUT', f!, { limit: 'MAX_IDS_PER_OPERATION', max: 3 }),
        ]);
        expect(body.errors![0]!.message).toContain('MAX_IDS_PER_OPERATION');
        expect(
          lookups(h)
            .flatMap((call) => call.ids)
            .sort(),
        ).toEqual([a!, b!, d!].sort());
      } finally {
        await h.close();
      }
    });

    it('without its credentials it is not configured: PROVIDER_NOT_CONFIGURED at every id, and the other providers still answer', async () => {
      const others = registered.filter((other) => other !== kit);
      const h = await startHarness({ kits: others, providers: registered.map((each) => each.provider) });
      try {
        const ids = c.known(2);
        const other = others[0]?.conformance;
        const theirs =
          other === undefined ? '' : `theirs: ${other.root.field}(${other.root.argument}: ${JSON.stringify(other.known(1))}) { id }`;
        const { status, body } = await h.gql(`{ ${field}(${argument}: ${JSON.stringify(ids)}) { ${key} } ${theirs} }`);
        expect(status).toBe(200);
        expect(body.data[field]).toEqual([null, null]);
        expect(body.errors).toEqual(ids.map((id, index) => errorAt([field, index], 'PROVIDER_NOT_CONFIGURED', id)));
        if (other !== undefined) expect(idsOf(body.data.theirs)).toEqual(other.known(1));
      } finally {
        await h.close();
      }
    });
  });

  describe(`${name}: the record cache`, () => {
    let off: Harness;
    let on: Harness;
    beforeAll(async () => {
      [off, on] = await Promise.all([startHarness({ kits: [kit] }), startHarness({ kits: [kit], env: { [CACHE]: '1' } })]);
    });
    afterAll(() => Promise.all([off.close(), on.close()]));

    it('answers exactly what the upstream answers, whatever it remembers (a property against the same server without it)', async () => {
      const pool = [...c.known(6, 61), c.unknown];
      const operation = fc.record({
        selection: fc.constantFrom(...c.selections.map((s) => s.selection)),
        ids: fc.array(fc.constantFrom(...pool), { minLength: 1, maxLength: 5 }),
        entity: fc.boolean(),
      });
      let callsOn = 0;
      let callsOff = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 4 }), async (operations) => {
          for (const { selection, ids, entity } of operations) {
            const [query, variables] = entity
              ? [
                  `query($r: [_Any!]!) { _entities(representations: $r) { ... on ${c.entity.typename} { ${selection} } } }`,
                  { r: ids.map(representation) },
                ]
              : [list(selection), { ids }];
            on.reset();
            off.reset();
            const [cached, uncached] = await Promise.all([on.gql(query, variables), off.gql(query, variables)]);
            expect(cached).toEqual(uncached);
            callsOn += lookups(on).length;
            callsOff += lookups(off).length;
          }
        }),
        { numRuns: 25, seed: 20261205 },
      );
      // It did remember: fewer calls in all than without it.
      expect(callsOn).toBeLessThan(callsOff);
    });

    it('the same operation again costs no call, and answers the same, NOT_FOUND included', async () => {
      const ids = [...c.known(3, 71), c.unknown];
      const rich = c.selections[c.selections.length - 1]!.selection;
      on.reset();
      const first = await on.gql(list(rich), { ids });
      expect(lookups(on).length).toBeGreaterThan(0);
      on.reset();
      const again = await on.gql(list(rich), { ids });
      expect(again).toEqual(first);
      expect(lookups(on)).toEqual([]);
      // The key alone is in what the cache holds.
      const keyOnly = await on.gql(list(key), { ids });
      expect(idsOf(keyOnly.body.data[field])).toEqual([...ids.slice(0, 3), null]);
      expect(lookups(on)).toEqual([]);
    });
  });

  describe(`${name}: cancellation`, () => {
    it("a hanging upstream ends at the operation's deadline: DEADLINE_EXCEEDED at every id, one attempt, no retry", async () => {
      const h = await startHarness({
        kits: [kit],
        env: { OPERATION_TIMEOUT_MS: '300', UPSTREAM_TIMEOUT_MS: '10000', UPSTREAM_MAX_ATTEMPTS: '3' },
      });
      try {
        c.slow(handle(h), 5_000);
        const ids = c.known(2, 81);
        const { status, body } = await h.gql(list(key), { ids });
        expect(status).toBe(200);
        expect(body.data[field]).toEqual([null, null]);
        expect(body.errors).toEqual(ids.map((id, index) => errorAt([field, index], 'DEADLINE_EXCEEDED', id)));
        expect(body.errors![0]!.message).toContain('OPERATION_TIMEOUT_MS');
        expect(lookups(h)).toHaveLength(1);
      } finally {
        await h.close();
      }
    });

    it('a client that goes away while its lookup is at the upstream leaves no work behind: the call is cut off, nothing follows it, the next client is answered', async () => {
      // Deadlines far beyond the test's timeout: only the client's leaving can end the operation in time.
      const h = await startHarness({
        kits: [kit],
        env: { OPERATION_TIMEOUT_MS: '60000', UPSTREAM_TIMEOUT_MS: '60000', UPSTREAM_MAX_ATTEMPTS: '3' },
      });
      try {
        // Tokens and connections in hand first: the operation then sends its lookup and nothing else.
        expect((await h.gql(list(key), { ids: c.known(1, 91) })).body.errors).toBeUndefined();
        h.reset();
        const before = await metricsOf(h, name);
        c.slow(handle(h), 60_000);
        const client = new AbortController();
        const abandoned = fetch(`${h.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: list(key), variables: { ids: c.known(2, 92) } }),
          signal: client.signal,
        }).then(
          () => 'answered',
          () => 'aborted',
        );
        await until(() => lookups(h).length > 0);
        client.abort();
        expect(await abandoned).toBe('aborted');
        await until(async () => (await metricsOf(h, name)).inFlight === 0);
        // The call at the upstream was cut off, once, and not retried; nothing was sent after it.
        expect(await metricsOf(h, name)).toEqual({ inFlight: 0, aborted: before.aborted + 1 });
        expect(c.requests(handle(h))).toEqual([c.lookupRequest]);

        h.reset();
        const ids = c.known(2, 94);
        const { body } = await h.gql(list(key), { ids });
        expect(body.errors).toBeUndefined();
        expect(idsOf(body.data[field])).toEqual(ids);
        expect(c.requests(handle(h))).toEqual([c.lookupRequest]);
      } finally {
        await h.close();
      }
    });
  });

  describe.concurrent(`${name}: faults`, () => {
    for (const fault of c.faults({ attempts: ATTEMPTS, timeoutMs: TIMEOUT_MS })) {
      const title = `${fault.name} -> ${fault.code}${fault.retryAfter === undefined ? '' : ` (retryAfter ${fault.retryAfter})`}, ${fault.requests.length} request(s)`;
      it(title, () => runFault(kit, registered, fault));
    }
  });
}

/**
 * One fault of `kit`'s upstream, in an operation that asks every registered provider for two users: the
 * faulty provider's ids answer the fault's error and nothing else does; the others keep their data at one
 * lookup each; nothing of the upstream's failure or of any credential leaks; the next operation recovers.
 * Each fault has its own subgraph (a client keeps rate-limit windows, tokens and circuits across operations).
 */
async function runFault(kit: AnyKit, registered: readonly AnyKit[], fault: FaultCase<unknown>): Promise<void> {
  const name = kit.provider.id.name;
  const clock = new TestClock();
  const operation = `{ ${registered
    .map(
      ({ name: alias, conformance: { root, known, selections } }) =>
        `${alias}: ${root.field}(${root.argument}: ${JSON.stringify(known(2))}) { ${selections[0]!.selection} }`,
    )
    .join(' ')} }`;
  const options: HarnessOptions = {
    clock,
    kits: registered,
    emulators: Object.fromEntries(
      registered.flatMap((other) => (other.conformance.onClock ? [[other.name, other.conformance.onClock(clock)]] : [])),
    ),
    env: { UPSTREAM_MAX_ATTEMPTS: String(ATTEMPTS), UPSTREAM_MAX_RETRY_WAIT_MS: String(RETRY_WAIT_MS), ...fault.env },
  };
  const h = await startHarness(options);
  try {
    const seen = () =>
      Object.fromEntries(registered.map((other) => [other.name, other.conformance.requests(h.emulators.running.get(other.name)!.handle)]));
    const oneLookupEach = Object.fromEntries(registered.map((other) => [other.name, [other.conformance.lookupRequest]]));
    const ids = kit.conformance.known(2);
    const errorsAt = (code: ErrorCode, retryAfter: unknown) =>
      ids.map((id, index) => ({
        message: expect.any(String),
        locations: expect.any(Array),
        path: [kit.name, index],
        extensions: { code, provider: name, id, ...(retryAfter === undefined ? {} : { retryAfter }) },
      }));

    // Every provider answers: the data every later operation is compared with (and tokens are obtained).
    const first = await h.gql(operation);
    expect(first.status).toBe(200);
    expect(first.body.errors).toBeUndefined();
    const data = first.body.data;
    h.reset();

    fault.inject(h.emulators.running.get(kit.name)!.handle, clock.wallNow());
    const response = await h.gql(operation);
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ ...data, [kit.name]: [null, null] });
    expect([...(response.body.errors ?? [])].sort(byPath)).toEqual(errorsAt(fault.code, fault.retryAfter));
    expect(seen()).toEqual({ ...oneLookupEach, [kit.name]: fault.requests });

    // Nothing of the upstream's failure reaches the caller; no credential reaches the caller, a log line or a metric.
    const secrets = registered.flatMap((other) => other.conformance.secrets);
    const answer = JSON.stringify(response.body);
    for (const text of [...registered.flatMap((other) => other.conformance.upstreamText), ...secrets]) expect(answer).not.toContain(text);
    const logsAndMetrics = h.logs.join('\n') + (await (await fetch(`${h.url}/metrics`)).text());
    for (const secret of secrets) expect(logsAndMetrics).not.toContain(secret);

    if (fault.remembered) {
      // Until the upstream's reset, the lookup fails at once without asking again; after it, it asks again.
      h.reset();
      const early = await h.gql(operation);
      expect(early.body.data).toEqual({ ...data, [kit.name]: [null, null] });
      const errors = [...(early.body.errors ?? [])].sort(byPath);
      expect(errors).toEqual(errorsAt(fault.code, expect.any(Number)));
      for (const error of errors) expect(error.extensions!.retryAfter).toBeGreaterThan(0);
      for (const error of errors) expect(error.extensions!.retryAfter).toBeLessThanOrEqual(fault.retryAfter!);
      expect(seen()[kit.name]).toEqual([]);
      clock.advance(fault.retryAfter! * 1000);
    }

    // The next operation gets every provider's data, at one lookup each.
    h.reset();
    const again = await h.gql(operation);
    expect(again).toEqual({ status: 200, body: { data } });
    expect(seen()).toEqual(oneLookupEach);
  } finally {
    await h.close();
  }
}
