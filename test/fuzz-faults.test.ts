import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderKit } from '../src/providers/kit.js';
import { kits } from '../src/providers/kits.js';
import { xKit } from '../src/providers/x/kit.js';
import {
  deleteKeysUnder,
  getEach,
  keysUnder,
  SHARED_REDIS_TOPOLOGY,
  sharedRedis,
  sharedRedisEnvironment,
  uniquePrefix,
} from '../src/testing/redis.js';
import { type EmulatorOptions, type GqlResult, type Harness, startHarness } from './support/harness.js';
import { skippingClock } from './support/test-clock.js';

/**
 * Property-based fuzzing of three hostile situations (issue 20), each against real servers over HTTP and
 * compared with another real configuration, never with answers written here:
 *
 * 1. **One caller's bad id inside another's batch.** Concurrent operations from several clients through
 *    one server (real DataLoader batching, requests coalescing into shared X calls, the record cache off
 *    or on), some carrying hostile X ids: ids the subgraph refuses before any call (`0`, `007`, 19 and 20
 *    digits above 2^63−1) and ids it takes but X refuses with a 400 (a proxy in front of the X emulator
 *    spoils them on the wire, so the emulator's own 400 names no id the subgraph asked). Every operation
 *    answers exactly what it answers when sent alone to a second server; one whose ids are all valid has
 *    no error at all; a hostile one fails only at its own bad ids, each with BAD_USER_INPUT.
 *    Some of the ids come after 250–300 valid ones (a gateway's long batch, past the 256 items a request
 *    answers per turn of the event loop): a hostile id there once left a rejection unhandled, and a real
 *    process exited on it (`src/guard/yielding-list.ts`). FUZZ_LONG_LISTS=0 leaves them out.
 * 2. **Corrupted cache entries.** With the record cache in Redis (the run's own, under a prefix of this
 *    file's, deleted afterwards), an operation fills the cache, then arbitrary entries are overwritten with
 *    arbitrary corruption: not JSON, JSON of another shape, another entry copied over (filed under another
 *    key), far-future or past times, an unknown format version, fields missing or of the wrong type. The
 *    same operation then answers exactly what a server without a cache answers (so never another user's
 *    record, never a 5xx); each rejected entry is counted under its reason in
 *    `users_subgraph_cache_rejected_entries_total{reason}` at every read (twice for an entry the
 *    operation asks by key: a miss is read again once claimed), never more; and it is overwritten by the
 *    answer. Corruption inside a well-formed entry (a record of another shape, another user's record with
 *    its place rewritten, fields the record lacks) is not rejected by the subgraph today:
 *    FUZZ_RECORD_CORRUPTION=1 adds those cases.
 * 3. **Slow and broken request bodies.** Over raw TCP, a POST /graphql body arrives split at arbitrary
 *    bytes (inside a multi-byte character too) with pauses, chunked or with a content-length, complete,
 *    cut short and closed or half-closed, or announced longer than sent and then silent. Each case ends
 *    with the answer the body gets when sent whole, or a 408 with REQUEST_TIMEOUT (always when the body
 *    could not have arrived by the deadline), or a 400/413, or a closed socket for a client that hung up;
 *    nothing waits past OPERATION_TIMEOUT_MS plus a margin (a hang detector, not a speed test); nothing is
 *    left in flight; and /health answers at once afterwards.
 *
 * In all three, no case may leave a promise rejection unhandled in the process the servers run in (a real
 * process exits on one). A failure prints fast-check's seed and path; FUZZ_SEED and FUZZ_RUNS (runs per
 * property) override the fixed ones; FUZZ_STATS=1 prints what the cases reached.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20_260_520);
const RUNS = process.env.FUZZ_RUNS === undefined ? undefined : Number(process.env.FUZZ_RUNS);
const RECORD_CORRUPTION = process.env.FUZZ_RECORD_CORRUPTION === '1';
const LONG_LISTS = process.env.FUZZ_LONG_LISTS !== '0';
/** Each property's runs, and a test timeout that grows with them (a run takes well under a second). */
const runs = (fixed: number) => RUNS ?? fixed;
const timeoutFor = (fixed: number) => 30_000 + 1_500 * runs(fixed);

type Answer = GqlResult<Record<string, unknown>>;
type GqlError = NonNullable<Answer['body']['errors']>[number];

/**
 * Rejections nobody handled in this process, where the servers under test run: a real process exits on
 * one (Node's default), so every case must leave none.
 */
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});
/** Fails when a rejection went unhandled since `since` (`unhandled.length` when the case began). */
const noUnhandledRejection = (since: number, shown: string) =>
  expect(unhandled.slice(since).map(String), `an unhandled rejection (a real process would exit): ${shown}`).toEqual([]);

/** Errors in path order: concurrent resolution may report them in another order. */
function sorted(answer: Answer): Answer {
  const errors = answer.body.errors;
  if (errors === undefined) return answer;
  const byPath = (a: GqlError, b: GqlError) => JSON.stringify(a.path).localeCompare(JSON.stringify(b.path));
  return { ...answer, body: { ...answer.body, errors: [...errors].sort(byPath) } };
}

async function metric(h: Harness, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${h.url}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const [series, value] = [line.slice(0, line.lastIndexOf(' ')), line.slice(line.lastIndexOf(' ') + 1)];
    values.set(series, Number(value));
  }
  return values;
}

/** Polls `check` every 10 ms until it holds, at most `ms`: for what a server finishes after it answered. */
async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (performance.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// =============================================================================================
// 1. One caller's bad id inside another's batch.

/** What the subgraph takes as an X id (restated here as the test's oracle): canonical decimal, 1 to 2^63−1. */
const X_MAX_ID = '9223372036854775807';
const isCanonicalXId = (id: string) => /^[1-9][0-9]{0,18}$/.test(id) && (id.length < X_MAX_ID.length || id <= X_MAX_ID);

/**
 * Ids X refuses though they look like any other (the proxy below spoils them on the wire): canonical, 12
 * digits or more, ending in 666. The emulator knows ids 1–10000, so no valid id of this test is one.
 */
const isPoisoned = (id: string) => id.length >= 12 && id.endsWith('666');
const isGoodXId = (id: string) => isCanonicalXId(id) && !isPoisoned(id);

/** Refused before any call. */
const REFUSED_IDS = [
  '0',
  '00',
  '007',
  '0123',
  '9223372036854775808', // 2^63
  '9999999999999999999',
  '12345678901234567890', // 20 digits
  '18446744073709551616',
  '99999999999999999999',
];

interface XProxy {
  url: string;
  target: string;
  close(): Promise<void>;
}

/**
 * A pass-through in front of the X emulator that spoils every poisoned id of a lookup's `ids` with a
 * leading zero: the emulator then refuses the whole call with X's own 400 ("invalid request"), which
 * names no id the subgraph asked for. Everything else goes through untouched.
 */
async function startXProxy(): Promise<XProxy> {
  const proxy: XProxy = { url: '', target: '', close: async () => {} };
  const server: Server = createServer((req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', proxy.target);
    const ids = url.searchParams.get('ids');
    if (ids !== null) {
      url.searchParams.set(
        'ids',
        ids
          .split(',')
          .map((id) => (isPoisoned(id) ? `0${id}` : id))
          .join(','),
      );
    }
    const headers: Record<string, string> = {};
    for (const name of ['authorization', 'accept', 'user-agent']) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    fetch(url, { headers })
      .then(async (answer) => {
        const body = await answer.text();
        const out: Record<string, string> = {};
        answer.headers.forEach((value, name) => {
          if (name === 'content-type' || name.startsWith('x-rate-limit-')) out[name] = value;
        });
        res.writeHead(answer.status, out);
        res.end(body);
      })
      .catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()));
      server.closeAllConnections();
    });
  return proxy;
}

/** An X server behind its own proxy; `env` over the defaults (a budget no case spends). */
async function xBehindProxy(env: Record<string, string>): Promise<{ h: Harness; proxy: XProxy }> {
  const proxy = await startXProxy();
  try {
    const h = await startHarness({
      kits: [xKit],
      emulators: { x: { rateLimit: { limit: 1_000_000, windowSeconds: 900 } } },
      env: { X_API_BASE_URL: proxy.url, ...env },
    });
    proxy.target = h.emulator('x').url;
    return { h, proxy };
  } catch (error) {
    await proxy.close();
    throw error;
  }
}

const X_SELECTIONS = [
  'id',
  'id username name',
  'id description location',
  'id publicMetrics { followersCount }',
  'id pinnedTweet { id text }',
  '__typename id username',
];

const knownXId = fc.integer({ min: 1, max: 10_000 }).map(String);
const poisonedXId = fc.bigInt({ min: 100_000_000n, max: 999_999_999_999_999n }).map((n) => `${n}666`);
const hostileXId = fc.oneof({ weight: 1, arbitrary: fc.constantFrom(...REFUSED_IDS) }, { weight: 2, arbitrary: poisonedXId });

interface XOperation {
  ids: string[] | undefined;
  entities: string[] | undefined;
  selection: string;
}

/**
 * A list of a few ids; unless FUZZ_LONG_LISTS=0, sometimes after 250–300 valid ones (a gateway's long batch),
 * so that its own ids come where a long answer is completed in slices (`src/guard/yielding-list.ts`).
 */
const idList = (id: fc.Arbitrary<string>, maxLength: number): fc.Arbitrary<string[]> => {
  const short = fc.array(id, { minLength: 1, maxLength });
  if (!LONG_LISTS) return short;
  const long = fc
    .tuple(fc.integer({ min: 250, max: 300 }), fc.integer({ min: 1, max: 9_000 }), short)
    .map(([length, from, tail]) => [...Array.from({ length }, (_, i) => String(from + (i % 1_000))), ...tail]);
  return fc.oneof({ weight: 4, arbitrary: short }, { weight: 1, arbitrary: long });
};

const xOperation = (id: fc.Arbitrary<string>): fc.Arbitrary<XOperation> =>
  fc
    .record({
      ids: fc.option(idList(id, 6), { nil: undefined, freq: 4 }),
      entities: fc.option(idList(id, 4), { nil: undefined, freq: 2 }),
      selection: fc.constantFrom(...X_SELECTIONS),
    })
    .filter((op) => op.ids !== undefined || op.entities !== undefined);

/** A valid operation, or a hostile one: valid ids with at least one hostile id among them. */
const clientOperation = fc.oneof(
  { weight: 3, arbitrary: xOperation(knownXId) },
  {
    weight: 2,
    arbitrary: xOperation(fc.oneof({ weight: 3, arbitrary: knownXId }, { weight: 2, arbitrary: hostileXId })).filter((op) =>
      [...(op.ids ?? []), ...(op.entities ?? [])].some((id) => !isGoodXId(id)),
    ),
  },
);

function renderX(op: XOperation): { query: string; variables: Record<string, unknown> } {
  const fields: string[] = [];
  const definitions: string[] = [];
  const variables: Record<string, unknown> = {};
  if (op.ids !== undefined) {
    definitions.push('$ids: [ID!]!');
    variables.ids = op.ids;
    fields.push(`xUsers(ids: $ids) { ${op.selection} }`);
  }
  if (op.entities !== undefined) {
    definitions.push('$r: [_Any!]!');
    variables.r = op.entities.map((id) => ({ __typename: 'XUser', id }));
    fields.push(`_entities(representations: $r) { ... on XUser { ${op.selection} } }`);
  }
  return { query: `query(${definitions.join(', ')}) { ${fields.join(' ')} }`, variables };
}

/** Where each bad id of `op` answers: its index in `xUsers` or `_entities`. */
function badPaths(op: XOperation): Array<{ path: Array<string | number>; id: string }> {
  const at = (field: string, ids: string[] | undefined) =>
    (ids ?? []).flatMap((id, index) => (isGoodXId(id) ? [] : [{ path: [field, index], id }]));
  return [...at('xUsers', op.ids), ...at('_entities', op.entities)];
}

const P1_RUNS = 30;

// Only the Redis part of this file (corrupted cache entries) is of the sharing suite: the other two run in the default project.
const ONLY_IN_DEFAULT_PROJECT = { skip: SHARED_REDIS_TOPOLOGY.kind !== 'node' };

describe('one caller’s bad id inside another’s batch', ONLY_IN_DEFAULT_PROJECT, () => {
  let alone: { h: Harness; proxy: XProxy };
  let shared: { off: { h: Harness; proxy: XProxy }; on: { h: Harness; proxy: XProxy } };

  beforeAll(async () => {
    // A window long enough that the concurrent operations' ids join the same X calls.
    const coalescing = { COALESCE_WINDOW_MS: '25' };
    const [reference, off, on] = await Promise.all([
      xBehindProxy({}),
      xBehindProxy(coalescing),
      xBehindProxy({ ...coalescing, X_CACHE: '1' }),
    ]);
    alone = reference;
    shared = { off, on };
  }, 30_000);

  afterAll(async () => {
    for (const server of [alone, shared?.off, shared?.on]) {
      if (server === undefined) continue;
      await server.h.close();
      await server.proxy.close();
    }
  });

  it(
    'each operation answers what it answers alone: valid ones without error, hostile ones BAD_USER_INPUT at their own bad ids only',
    async () => {
      const stats = { cases: 0, refusedCalls: 0, sharedCalls: 0, hostileOps: 0, validOps: 0 };
      await fc.assert(
        fc.asyncProperty(fc.array(clientOperation, { minLength: 2, maxLength: 6 }), fc.boolean(), async (ops, cacheOn) => {
          const since = unhandled.length;
          const server = cacheOn ? shared.on : shared.off;
          const rendered = ops.map(renderX);
          // Alone: one after the other, on a server of its own.
          const expected: Answer[] = [];
          for (const { query, variables } of rendered) expected.push(sorted(await alone.h.gql(query, variables)));
          // Together: every client at once, through one server.
          server.h.reset();
          const together = (await Promise.all(rendered.map(({ query, variables }) => server.h.gql(query, variables)))).map(sorted);

          ops.forEach((op, i) => {
            const answer = together[i]!;
            const shown = `operation ${i} ${JSON.stringify(rendered[i])}: ${JSON.stringify(answer.body).slice(0, 800)}`;
            expect(answer.status, shown).toBe(200);
            expect(answer, shown).toEqual(expected[i]);
            const bad = badPaths(op);
            if (bad.length === 0) {
              stats.validOps++;
              expect(answer.body.errors, shown).toBeUndefined();
            } else {
              stats.hostileOps++;
              const errors = answer.body.errors ?? [];
              expect(
                errors.map((error) => ({ path: error.path, id: error.extensions?.id })),
                shown,
              ).toEqual(bad.sort((a, b) => JSON.stringify(a.path).localeCompare(JSON.stringify(b.path))));
              for (const error of errors) expect(error.extensions, shown).toMatchObject({ code: 'BAD_USER_INPUT', provider: 'x' });
            }
            // Every good id has its user.
            const data = answer.body.data ?? {};
            const users = [...((data.xUsers as unknown[] | undefined) ?? []), ...((data._entities as unknown[] | undefined) ?? [])];
            const ids = [...(op.ids ?? []), ...(op.entities ?? [])];
            ids.forEach((id, k) => {
              if (isGoodXId(id)) expect(users[k], shown).toMatchObject({ id });
              else expect(users[k], shown).toBeNull();
            });
          });

          noUnhandledRejection(since, JSON.stringify(rendered));

          // What the server asked X: calls X refused (then split), and calls that carried several clients' ids.
          const owners = new Map<string, Set<number>>();
          ops.forEach((op, i) => {
            for (const id of [...(op.ids ?? []), ...(op.entities ?? [])]) owners.set(id, (owners.get(id) ?? new Set()).add(i));
          });
          for (const request of server.h.emulator('x').requests) {
            if (request.path !== '/2/users') continue;
            if (request.status === 400) stats.refusedCalls++;
            const clients = new Set((request.query.ids ?? '').split(',').flatMap((id) => [...(owners.get(id.replace(/^0/, '')) ?? [])]));
            if (clients.size > 1) stats.sharedCalls++;
          }
          stats.cases++;
        }),
        { numRuns: runs(P1_RUNS), seed: SEED },
      );
      if (process.env.FUZZ_STATS) console.log(JSON.stringify(stats));
      // The cases did what they are for: X refused shared calls, and calls carried several clients' ids.
      expect(stats.refusedCalls).toBeGreaterThan(0);
      expect(stats.sharedCalls).toBeGreaterThan(stats.cases / 4);
      expect(stats.hostileOps).toBeGreaterThan(stats.cases / 2);
      expect(stats.validOps).toBeGreaterThan(stats.cases / 2);
    },
    timeoutFor(P1_RUNS),
  );
});

// =============================================================================================
// 2. Corrupted cache entries.

type AnyKit = ProviderKit<any, any>;

/** Why the subgraph must reject `value` read back at `place` (entry-check.ts's rules, restated as the oracle); undefined: a well-formed entry. */
function rejection(value: string, place: string): 'shape' | 'version' | 'place' | undefined {
  let stored: unknown;
  try {
    stored = JSON.parse(value);
  } catch {
    return 'shape';
  }
  if (stored === null || typeof stored !== 'object' || Array.isArray(stored)) return 'shape';
  const entry = stored as Record<string, unknown>;
  if (entry.v !== 1) return 'version';
  if (entry.place !== place) return 'place';
  if (!Array.isArray(entry.fields) || entry.fields.some((field) => typeof field !== 'string')) return 'shape';
  const time = (t: unknown) => typeof t === 'number' && Number.isFinite(t);
  if (!time(entry.freshUntil) || !time(entry.staleUntil) || !time(entry.at)) return 'shape';
  if (entry.missing !== undefined) {
    const missing = entry.missing as { code?: unknown; message?: unknown } | null;
    if (missing === null || typeof missing !== 'object') return 'shape';
    if (missing.code !== 'NOT_FOUND' && missing.code !== 'SUSPENDED') return 'shape';
    if (missing.message !== undefined && typeof missing.message !== 'string') return 'shape';
  } else if (entry.record === undefined) {
    return 'shape';
  }
  return undefined;
}

const ENTRY_PARTS = ['v', 'place', 'fields', 'freshUntil', 'staleUntil', 'at', 'record', 'missing'] as const;
const YEAR_MS = 365 * 24 * 3600 * 1000;

/** One way to spoil an entry; `from` picks another entry of the same run. */
type Corruption =
  | { kind: 'text'; text: string }
  | { kind: 'truncated'; at: number }
  | { kind: 'json'; value: fc.JsonValue }
  | { kind: 'moved'; from: number }
  | { kind: 'times'; times: { freshUntil?: number; staleUntil?: number; at?: number } }
  | { kind: 'version'; v: unknown }
  | { kind: 'drop'; parts: string[] }
  | { kind: 'retype'; part: string; value: unknown }
  // FUZZ_RECORD_CORRUPTION: inside a well-formed entry.
  | { kind: 'record'; value: unknown }
  | { kind: 'record-of'; from: number }
  | { kind: 'fields'; fields: string[] };

const farTime = fc.constantFrom(8.64e15, Number.MAX_SAFE_INTEGER, 1e300, 0, -1, 1);
const CORRUPTION: fc.Arbitrary<Corruption> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.string({ maxLength: 30 }),
        fc.constantFrom('', 'null', '{', '{"v":1', 'NaN', '\u0000', '\uFEFF{}', 'undefined', '[]', '"x"', '1e999'),
      )
      .map((text): Corruption => ({ kind: 'text', text })),
  },
  { weight: 2, arbitrary: fc.double({ min: 0, max: 0.999, noNaN: true }).map((at): Corruption => ({ kind: 'truncated', at })) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((value): Corruption => ({ kind: 'json', value })) },
  { weight: 3, arbitrary: fc.nat().map((from): Corruption => ({ kind: 'moved', from })) },
  {
    weight: 3,
    arbitrary: fc
      .record(
        { freshUntil: farTime, staleUntil: farTime, at: fc.oneof(farTime, fc.constant(Date.now() + 10 * YEAR_MS)) },
        { requiredKeys: [] },
      )
      .map((times): Corruption => ({ kind: 'times', times })),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom<unknown>(0, 2, -1, 1.5, '1', null, true, [1], { v: 1 }, 999)
      .map((v): Corruption => ({ kind: 'version', v })),
  },
  { weight: 2, arbitrary: fc.subarray([...ENTRY_PARTS], { minLength: 1 }).map((parts): Corruption => ({ kind: 'drop', parts })) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc
        .constantFrom<unknown>(5, 'fields', [1], [null], {}, null, [['a']])
        .map((value): Corruption => ({ kind: 'retype', part: 'fields', value })),
      fc
        .tuple(fc.constantFrom('freshUntil', 'staleUntil', 'at'), fc.constantFrom<unknown>('1', null, [], {}, true, '9e15'))
        .map(([part, value]): Corruption => ({ kind: 'retype', part, value })),
      fc
        .constantFrom<unknown>(5, 'NOT_FOUND', null, [], { code: 'GONE' }, { code: 'NOT_FOUND', message: 5 }, { message: 'gone' })
        .map((value): Corruption => ({ kind: 'retype', part: 'missing', value })),
      fc.constantFrom<unknown>(5, null, 'x', {}).map((value): Corruption => ({ kind: 'retype', part: 'place', value })),
    ),
  },
  ...(RECORD_CORRUPTION
    ? [
        {
          weight: 3,
          arbitrary: fc
            .constantFrom<unknown>(5, 'x', {}, [], null, { id: 1 }, { id: '1' })
            .map((value): Corruption => ({ kind: 'record', value })),
        },
        { weight: 3, arbitrary: fc.nat().map((from): Corruption => ({ kind: 'record-of', from })) },
        {
          weight: 2,
          arbitrary: fc
            .constantFrom<string[]>(['user.fields=description,location,public_metrics'], ['AVATAR_HR'], ['full'], ['zzz'])
            .map((fields): Corruption => ({ kind: 'fields', fields })),
        },
      ]
    : []),
);

/** `original`, the value at `place`, spoiled as `c` says; `entries` are every entry of the run, for the ones copied over. */
function corrupt(c: Corruption, place: string, original: string, entries: ReadonlyArray<readonly [string, string]>): string {
  const other = (from: number) => {
    const others = entries.filter(([key]) => key !== place);
    return others.length === 0 ? entries[0]! : others[from % others.length]!;
  };
  const edit = (change: (entry: Record<string, unknown>) => void) => {
    const entry = JSON.parse(original) as Record<string, unknown>;
    change(entry);
    return JSON.stringify(entry);
  };
  switch (c.kind) {
    case 'text':
      return c.text;
    case 'truncated':
      return original.slice(0, Math.floor(c.at * original.length));
    case 'json':
      return JSON.stringify(c.value);
    case 'moved':
      return other(c.from)[1];
    case 'times':
      return edit((entry) => Object.assign(entry, c.times));
    case 'version':
      return edit((entry) => {
        entry.v = c.v;
      });
    case 'drop':
      return edit((entry) => {
        for (const part of c.parts) delete entry[part];
      });
    case 'retype':
      return edit((entry) => {
        entry[c.part] = c.value;
      });
    case 'record':
      return edit((entry) => {
        entry.record = c.value;
        delete entry.missing;
      });
    case 'record-of':
      return edit((entry) => {
        const source = JSON.parse(other(c.from)[1]) as Record<string, unknown>;
        entry.record = source.record;
        entry.missing = source.missing;
        entry.fields = source.fields;
      });
    case 'fields':
      return edit((entry) => {
        entry.fields = c.fields;
      });
  }
}

interface CacheOperation {
  /** Per provider (the kit's name): ids asked at the root, with one of its selections; ids asked as `_entities`. */
  roots: Array<{ provider: string; ids: string[]; entities: string[]; selection: string }>;
  /** X users by username. */
  usernames: string[];
}

const cacheOperation: fc.Arbitrary<CacheOperation> = fc
  .record({
    roots: fc
      .tuple(
        ...kits.map((kit) => {
          const c = kit.conformance;
          const pool = [...c.known(6, 1), c.unknown];
          return fc.option(
            fc.record({
              provider: fc.constant(kit.name),
              ids: fc.subarray(pool),
              entities: fc.subarray(pool, { maxLength: 3 }),
              selection: fc.constantFrom(...c.selections.map((s) => s.selection)),
            }),
            { nil: undefined, freq: 3 },
          );
        }),
      )
      .map((roots) => roots.filter((root) => root !== undefined)),
    usernames: fc.subarray(['user1', 'user2', 'user3', 'USER4', 'user7', 'nobody_here']),
  })
  .filter((op) => op.usernames.length > 0 || op.roots.some((root) => root.ids.length + root.entities.length > 0));

const KIT: ReadonlyMap<string, AnyKit> = new Map(kits.map((kit) => [kit.name, kit]));

function renderCacheOperation(op: CacheOperation): string {
  const fields = op.roots.flatMap(({ provider, ids, selection }) => {
    const kit = KIT.get(provider)!;
    const { field, argument } = kit.conformance.root;
    return ids.length === 0 ? [] : [`${kit.name}: ${field}(${argument}: ${JSON.stringify(ids)}) { ${selection} }`];
  });
  if (op.usernames.length > 0) fields.push(`byName: xUsersByUsername(usernames: ${JSON.stringify(op.usernames)}) { id username name }`);
  const representations = op.roots.flatMap(({ provider, entities }) => {
    const { entity } = KIT.get(provider)!.conformance;
    return entities.map((id) => ({ __typename: entity.typename, id, ...entity.representation }));
  });
  if (representations.length > 0) {
    const fragments = op.roots.map(
      ({ provider, selection }) => `... on ${KIT.get(provider)!.conformance.entity.typename} { ${selection} }`,
    );
    const literal = representations.map(
      (rep) =>
        `{ ${Object.entries(rep)
          .map(([name, value]) => `${name}: ${JSON.stringify(value)}`)
          .join(', ')} }`,
    );
    fields.push(`_entities(representations: [${literal.join(', ')}]) { __typename ${fragments.join(' ')} }`);
  }
  return `{ ${fields.join(' ')} }`;
}

const P2_RUNS = 40;

describe('corrupted cache entries in Redis', () => {
  const admin = sharedRedis();
  const prefix = uniquePrefix('fuzz-faults');
  const cachePrefix = `${prefix}cache:`;
  let on: Harness;
  let off: Harness;

  beforeAll(async () => {
    const cacheOn = Object.fromEntries(kits.map((kit) => [`${kit.name.toUpperCase()}_CACHE`, '1']));
    // The subgraph paces its calls to the upstream accounts (Nexudus: 120 a minute), more than these cases
    // make in a minute. Without a cache, on a clock whose waits pass at once; with Redis, on Redis's clock,
    // its pacing state cleared before each case. The Nexudus emulator's own throttle would then refuse.
    const unthrottled: EmulatorOptions = { nexudus: { throttle: false } };
    [on, off] = await Promise.all([
      startHarness({ emulators: unthrottled, env: { ...sharedRedisEnvironment(), REDIS_KEY_PREFIX: prefix, ...cacheOn } }),
      startHarness({ emulators: unthrottled, clock: skippingClock() }),
    ]);
  }, 30_000);

  afterAll(async () => {
    await Promise.all([on?.close(), off?.close()]);
    await deleteKeysUnder(admin, prefix);
    await admin.quit();
  });

  /** Upstream requests `h` made since its last reset (a token grant aside). */
  const upstreamRequests = (h: Harness) =>
    kits.reduce(
      (sum, kit) =>
        sum + kit.conformance.requests(h.emulators.running.get(kit.name)!.handle as never).filter((r: string) => r !== 'token').length,
      0,
    );

  /** The places `op` surely reads: the entries of the users it asks for by key, as the README keys them. */
  function surelyRead(op: CacheOperation): Set<string> {
    const places = new Set<string>();
    for (const { provider, ids, entities } of op.roots) {
      const partition = (KIT.get(provider)!.conformance.entity.representation as { portal?: string } | undefined)?.portal ?? '';
      for (const id of [...ids, ...entities]) places.add(`${cachePrefix}${provider}|users||${partition}|${id}`);
    }
    for (const name of op.usernames) places.add(`${cachePrefix}x|usersByUsername|||${name.toLowerCase()}`);
    return places;
  }

  const REJECTED = 'users_subgraph_cache_rejected_entries_total';
  const rejectedNow = async () => {
    const values = await metric(on, REJECTED);
    const of = (reason: string) => values.get(`${REJECTED}{reason="${reason}"}`) ?? 0;
    return { shape: of('shape'), version: of('version'), place: of('place') };
  };

  it(
    'the same operation answers what a server without a cache answers; every rejected entry is counted and overwritten',
    async () => {
      const stats = { cases: 0, corrupted: 0, shape: 0, version: 0, place: 0, accepted: 0 };
      await fc.assert(
        fc.asyncProperty(
          cacheOperation,
          fc.array(fc.record({ pick: fc.nat(), corruption: CORRUPTION }), { minLength: 1, maxLength: 6 }),
          async (op, corruptions) => {
            const since = unhandled.length;
            const query = renderCacheOperation(op);
            // The cache holds what this operation wrote, and nothing else.
            await deleteKeysUnder(admin, cachePrefix);
            await deleteKeysUnder(admin, `${prefix}pace:`);
            const filled = await eventually(async () => {
              on.reset();
              await on.gql(query);
              return upstreamRequests(on) === 0;
            }, 10_000);
            expect(filled, 'the operation again still asked upstream: the cache did not fill').toBe(true);
            const places = (await keysUnder(admin, cachePrefix)).sort();
            expect(places.length).toBeGreaterThan(0);
            const values = await getEach(admin, places);
            const entries = places.map((place, i) => [place, values[i]!] as const);

            // Spoil some entries (each at most once).
            const spoiled = new Map<string, { value: string; reason: ReturnType<typeof rejection> }>();
            for (const { pick, corruption } of corruptions) {
              const [place, original] = entries[pick % entries.length]!;
              if (spoiled.has(place)) continue;
              const value = corrupt(corruption, place, original, entries);
              spoiled.set(place, { value, reason: rejection(value, place) });
              await admin.set(place, value, 'PX', 600_000);
            }

            const before = await rejectedNow();
            const [cached, uncached] = await Promise.all([on.gql(query), off.gql(query)]);
            const shown = `${query}\n${JSON.stringify([...spoiled])}\n${JSON.stringify(cached.body).slice(0, 1_000)}`;
            expect(cached.status, shown).toBeLessThan(500);
            expect(sorted(cached), shown).toEqual(sorted(uncached));

            // Each rejected entry is counted at every read, and a miss is read twice (again once claimed, for what
            // another replica may have stored meanwhile: replica-claims.ts): twice for those the operation surely
            // read, at most twice for every other one.
            const after = await rejectedNow();
            const read = surelyRead(op);
            for (const reason of ['shape', 'version', 'place'] as const) {
              const all = [...spoiled].filter(([, s]) => s.reason === reason);
              const counted = after[reason] - before[reason];
              expect(counted, `${reason}: ${shown}`).toBeGreaterThanOrEqual(2 * all.filter(([place]) => read.has(place)).length);
              expect(counted, `${reason}: ${shown}`).toBeLessThanOrEqual(2 * all.length);
              stats[reason] += counted;
            }
            // …and overwritten by the answer.
            for (const [place, { reason }] of spoiled) {
              if (reason === undefined || !read.has(place)) continue;
              const rewritten = await eventually(async () => rejection((await admin.get(place)) ?? '', place) === undefined, 2_000);
              expect(rewritten, `${place} still holds what was rejected: ${shown}`).toBe(true);
            }
            noUnhandledRejection(since, shown);
            stats.cases++;
            stats.corrupted += spoiled.size;
            stats.accepted += [...spoiled.values()].filter((s) => s.reason === undefined).length;
          },
        ),
        { numRuns: runs(P2_RUNS), seed: SEED },
      );
      if (process.env.FUZZ_STATS) console.log(JSON.stringify(stats));
      // Every reason was met, and so were corruptions the subgraph must take as entries (times, chiefly).
      expect(stats.shape).toBeGreaterThan(0);
      expect(stats.version).toBeGreaterThan(0);
      expect(stats.place).toBeGreaterThan(0);
      expect(stats.accepted).toBeGreaterThan(0);
    },
    timeoutFor(P2_RUNS),
  );
});

// =============================================================================================
// 3. Slow and broken request bodies.

const DEADLINE_MS = 400;
/** How much later than the deadline a case may end before it counts as hanging: a hang detector, not a speed test. */
const HANG_MS = 2_000;
const MAX_REQUEST_BYTES = 1_024;

/**
 * Bodies a client sends, with multi-byte characters a split may cut through, in usernames the answer's
 * errors quote: a body decoded piece by piece would answer other text.
 */
const PAYLOADS: Record<string, string> = {
  query: JSON.stringify({
    query: '# ✓\n{ xUsers(ids: ["1", "2"]) { id username } xUsersByUsername(usernames: ["ünïcødé_🚀", "user3"]) { id } }',
  }),
  variables: JSON.stringify({
    query: 'query Names($u: [String!]!) { xUsersByUsername(usernames: $u) { id name } }',
    variables: { u: ['user3', 'ünï🚀éé', '✓✓'] },
  }),
  'not JSON': '{"query": "{ xUsers(ids: [\\"1\\"]) { id } }", "variables": ',
  'too large': JSON.stringify({ query: '{ xUsers(ids: ["1"]) { id } }', variables: { pad: 'é'.repeat(MAX_REQUEST_BYTES) } }),
  empty: '',
};
const PAYLOAD_NAMES = Object.keys(PAYLOADS);

/**
 * How the body arrives. `complete`: all of it (chunked: then the last chunk); `longer`: a content-length
 * above what is sent (chunked: a last piece that says it is longer, and no last chunk), then silence;
 * `shorter`: a content-length below what is sent, so that the rest is a second request that is no request
 * (chunked: a last piece that says it is shorter); `cut-*`: only the first bytes, then silence, a close
 * (the client hangs up) or a half-close (the client is done sending).
 */
type Ending = 'complete' | 'longer' | 'shorter' | 'cut-silence' | 'cut-close' | 'cut-end';

interface Delivery {
  payload: string;
  chunked: boolean;
  keepAlive: boolean;
  /** Where the body is split: at any byte, or inside a multi-byte character (the `inside`-th one); and the pause before each piece (ms). */
  splits: Array<{ at: number } | { inside: number }>;
  pauses: number[];
  ending: Ending;
  /** `cut-*` and `shorter`/`longer`: how many bytes, as a fraction of the body. */
  fraction: number;
}

const pause = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 1, max: 25 }) },
  { weight: 1, arbitrary: fc.integer({ min: DEADLINE_MS / 2, max: DEADLINE_MS * 1.5 }) },
);
const DELIVERY: fc.Arbitrary<Delivery> = fc.record({
  payload: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('query', 'variables') },
    { weight: 2, arbitrary: fc.constantFrom(...PAYLOAD_NAMES) },
  ),
  chunked: fc.boolean(),
  keepAlive: fc.boolean(),
  splits: fc.array(
    fc.oneof(
      fc.nat({ max: 4_000 }).map((at) => ({ at })),
      fc.nat({ max: 100 }).map((inside) => ({ inside })),
    ),
    { maxLength: 6 },
  ),
  pauses: fc.array(pause, { minLength: 7, maxLength: 7 }),
  ending: fc.constantFrom<Ending>('complete', 'complete', 'complete', 'longer', 'shorter', 'cut-silence', 'cut-close', 'cut-end'),
  fraction: fc.double({ min: 0, max: 0.999, noNaN: true }),
});

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The first HTTP response in `bytes`, once it is whole (`closed`: nothing more will come). */
function parseResponse(bytes: Buffer, closed: boolean): Parsed | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let rest = bytes.subarray(end + 4);
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    if (rest.length < length) return undefined;
    return { status, headers, body: rest.subarray(0, length).toString('utf8') };
  }
  if (headers['transfer-encoding'] === 'chunked') {
    const parts: Buffer[] = [];
    for (;;) {
      const line = rest.indexOf('\r\n');
      if (line < 0) return undefined;
      const size = Number.parseInt(rest.subarray(0, line).toString('latin1'), 16);
      if (rest.length < line + 2 + size + 2) return undefined;
      if (size === 0) return { status, headers, body: Buffer.concat(parts).toString('utf8') };
      parts.push(rest.subarray(line + 2, line + 2 + size));
      rest = rest.subarray(line + 2 + size + 2);
    }
  }
  return closed ? { status, headers, body: rest.toString('utf8') } : undefined;
}

interface Outcome {
  /** The first response, if one came. */
  response: Parsed | undefined;
  /** Whether the server closed the connection (rather than the test, after a whole response). */
  closedByServer: boolean;
  /** Whether the case ended in time (a response, or the connection closed); false: it hung. */
  ended: boolean;
  /** The pauses taken before the last byte sent. */
  paused: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sends `d` over a raw connection to `port`, and waits for what ends it, DEADLINE_MS + HANG_MS at most. */
async function deliver(port: number, d: Delivery): Promise<Outcome> {
  const body = Buffer.from(PAYLOADS[d.payload]!, 'utf8');
  const cut = Math.floor(d.fraction * body.length);
  const sent = d.ending.startsWith('cut-') ? body.subarray(0, cut) : body;
  // A cut sends less than it declares (the empty body too); `shorter` declares less than it sends.
  const declared =
    d.ending === 'longer' || (d.ending.startsWith('cut-') && body.length === 0)
      ? body.length + 1 + cut
      : d.ending === 'shorter'
        ? Math.min(cut, Math.max(0, body.length - 1))
        : body.length;
  const framing = d.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${declared}`;
  const head = `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${framing}\r\nConnection: ${d.keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`;
  // The offsets of continuation bytes (10xxxxxx): a split there cuts a character in two.
  const inside = [...sent.keys()].filter((i) => (sent[i]! & 0xc0) === 0x80);
  const offset = (split: Delivery['splits'][number]) =>
    'at' in split ? split.at % Math.max(1, sent.length) : inside.length === 0 ? 0 : inside[split.inside % inside.length]!;
  const offsets = [...new Set(d.splits.map(offset))].filter((o) => o > 0).sort((a, b) => a - b);
  const pieces = [0, ...offsets].map((from, i, all) => sent.subarray(from, all[i + 1] ?? sent.length)).filter((piece) => piece.length > 0);
  // Chunked, the last piece may say it is longer or shorter than it is.
  const sizeOf = (piece: Buffer, last: boolean) =>
    !last
      ? piece.length
      : d.ending === 'longer'
        ? piece.length + 1 + cut
        : d.ending === 'shorter'
          ? Math.max(0, piece.length - 1)
          : piece.length;
  const frame = (piece: Buffer, last: boolean) => {
    if (!d.chunked) return piece;
    const size = sizeOf(piece, last);
    // A piece that says it is longer is still under way: no CRLF after it yet.
    return Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), piece, Buffer.from(size > piece.length ? '' : '\r\n')]);
  };

  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let received = Buffer.alloc(0);
  let closed = false;
  let whole: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    whole = resolve;
  });
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    // A whole response ends the case, unless it says the connection closes: then its close does.
    const response = parseResponse(received, false);
    if (response !== undefined && response.headers.connection?.toLowerCase() !== 'close') whole();
  });
  socket.once('close', () => {
    closed = true;
    whole();
  });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));

  let over = false;
  void finished.then(() => {
    over = true;
  });
  let paused = 0;
  const write = async () => {
    socket.write(head);
    for (const [i, piece] of pieces.entries()) {
      const ms = d.pauses[i] ?? 0;
      if (ms > 0) await sleep(ms);
      if (over) return;
      paused += ms;
      socket.write(frame(piece, i === pieces.length - 1));
    }
    if (over) return;
    if (d.chunked && d.ending === 'complete') socket.write('0\r\n\r\n');
    if (d.ending === 'cut-end') socket.end();
    if (d.ending === 'cut-close') socket.destroy();
  };
  const hang = sleep(DEADLINE_MS + HANG_MS).then(() => 'hang' as const);
  // The deadline runs from the headers: what ends the case must come within it and the margin.
  const writing = write();
  const ended = (await Promise.race([finished.then(() => 'ended' as const), hang])) === 'ended';
  await writing;
  const response = parseResponse(received, closed);
  const closedByServer = closed && d.ending !== 'cut-close';
  socket.destroy();
  return { response, closedByServer, ended, paused };
}

const P3_RUNS = 60;

describe('slow and broken request bodies', ONLY_IN_DEFAULT_PROJECT, () => {
  let h: Harness;
  let port: number;
  /** What each payload gets sent whole: status and parsed JSON. */
  const reference = new Map<string, { status: number; json: unknown }>();

  beforeAll(async () => {
    h = await startHarness({
      kits: [xKit],
      env: {
        OPERATION_TIMEOUT_MS: String(DEADLINE_MS),
        HTTP_HEADERS_TIMEOUT_MS: '1000',
        MAX_REQUEST_BYTES: String(MAX_REQUEST_BYTES),
      },
    });
    port = Number(new URL(h.url).port);
    for (const [name, payload] of Object.entries(PAYLOADS)) {
      const res = await fetch(`${h.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload });
      reference.set(name, { status: res.status, json: await res.json() });
    }
  }, 30_000);
  afterAll(() => h?.close());

  const inFlight = async () => (await metric(h, 'users_subgraph_operations_in_flight')).get('users_subgraph_operations_in_flight');
  /** Whether `body` is one GraphQL error of `code` (Node's own 408 or 400 has no body). */
  const typed = (body: string, code: string) => {
    try {
      const json = JSON.parse(body) as { errors?: Array<{ extensions?: { code?: unknown } }> };
      return json.errors?.length === 1 && json.errors[0]!.extensions?.code === code;
    } catch {
      return false;
    }
  };

  it(
    'each body gets its answer, or 408 REQUEST_TIMEOUT, 400 or 413, or a closed socket; nothing hangs or stays in flight',
    async () => {
      // The payloads' own answers, as a client sending them whole gets them.
      expect([...reference].map(([name, { status }]) => [name, status])).toEqual([
        ['query', 200],
        ['variables', 200],
        ['not JSON', 400],
        ['too large', 413],
        ['empty', 400],
      ]);
      const stats = { cases: 0, answered: 0, timedOut: 0, refused: 0, hungUp: 0 };
      await fc.assert(
        fc.asyncProperty(DELIVERY, async (d) => {
          const since = unhandled.length;
          const logStart = h.logs.length;
          const outcome = await deliver(port, d);
          const { response } = outcome;
          const shown = `${JSON.stringify(d)} -> ${JSON.stringify(outcome).slice(0, 600)}`;
          expect(outcome.ended, `hung past the deadline and ${HANG_MS} ms: ${shown}`).toBe(true);
          const timedOut = response?.status === 408 && typed(response.body, 'REQUEST_TIMEOUT');
          if (timedOut) expect(outcome.closedByServer, `a 408 closes its connection: ${shown}`).toBe(true);

          switch (d.ending) {
            case 'complete': {
              // Its own answer, unless the deadline came first; always the 408 when it could not have come in time.
              const expected = reference.get(d.payload)!;
              if (outcome.paused > DEADLINE_MS + 100) expect(timedOut, shown).toBe(true);
              else if (!timedOut) {
                expect(response?.status, shown).toBe(expected.status);
                expect(JSON.parse(response!.body), shown).toEqual(expected.json);
              }
              if (timedOut) stats.timedOut++;
              else if (expected.status === 200) stats.answered++;
              else stats.refused++;
              break;
            }
            case 'longer':
            case 'cut-silence':
              // The rest never comes: 408 at the deadline, the connection closed.
              expect(timedOut, shown).toBe(true);
              stats.timedOut++;
              break;
            case 'shorter':
              // What was declared is not JSON (a prefix of an object, or nothing), and the rest is no request;
              // or the deadline came first.
              expect(timedOut || response?.status === 400, shown).toBe(true);
              stats.refused++;
              break;
            case 'cut-end':
              // The client is done sending before the body is: refused (Node's 400), or the deadline's 408, or closed.
              expect(response === undefined || response.status === 400 || timedOut, shown).toBe(true);
              expect(outcome.closedByServer, shown).toBe(true);
              stats.refused++;
              break;
            case 'cut-close':
              stats.hungUp++;
              break;
          }
          if (response !== undefined) expect(response.status, shown).toBeLessThan(500);

          // Nothing is left in flight, and the server answers at once.
          expect(await eventually(async () => (await inFlight()) === 0, DEADLINE_MS + HANG_MS), `left in flight: ${shown}`).toBe(true);
          const health = await fetch(`${h.url}/health`, { signal: AbortSignal.timeout(HANG_MS) });
          expect(health.status).toBe(200);
          // A client's broken body is not the server's error.
          const errors = h.logs.slice(logStart).filter((line) => (JSON.parse(line) as { level?: number }).level! >= 50);
          expect(errors, shown).toEqual([]);
          noUnhandledRejection(since, shown);
          stats.cases++;
        }),
        { numRuns: runs(P3_RUNS), seed: SEED },
      );
      if (process.env.FUZZ_STATS) console.log(JSON.stringify(stats));
      expect(stats.answered).toBeGreaterThan(0);
      expect(stats.timedOut).toBeGreaterThan(0);
      expect(stats.refused).toBeGreaterThan(0);
      expect(stats.hungUp).toBeGreaterThan(0);
    },
    timeoutFor(P3_RUNS),
  );
});
