import fc from 'fast-check';
import { type GraphQLObjectType, getNamedType, isObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpFault } from '../../src/emulators/fault-queue.js';
import type { Bitrix24Fault } from '../../src/providers/bitrix24/emulator/server.js';
import { providers } from '../../src/providers/registry.js';
import type { TelegramFault } from '../../src/providers/telegram/emulator/server.js';
import { buildSchema } from '../../src/schema.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { type Harness, startHarness } from '../support/harness.js';

/**
 * The record cache is invisible in answers (docs/sharing.md, "Record cache"). fast-check drives two real servers
 * over HTTP, one with every provider's record cache on and one with every cache off, each in front of
 * emulators of its own, through random sequences of steps: time moves on (both servers' clocks alike),
 * upstream faults stand for the step (429s, 5xx, connections reset mid-body, bodies cut in half, HTML
 * from a proxy, Telegram RPC errors and FLOOD_WAITs; on one route or on all), and one operation runs
 * (providers, ids known and unknown and repeated, random field subsets from the schema, expansions,
 * aliases, `_entities`). A third server, cache off and never faulted, gives the truth of each operation.
 *
 * The relation held at every step, A the answer with the cache on, B with it off, T the truth:
 * 1. every value A or B answers is T's value at that path (nothing wrong, nothing stale that changed);
 * 2. every `null` A or B answers either is `null` in T (the upstream has no value) or carries an error
 *    at its path or above (never "no value" for "could not ask");
 * 3. A has every value B has (the cache never loses an answer);
 * 4. every error A answers is the upstream's own answer there (T's: a NOT_FOUND the cache kept), or an
 *    error B answers at its path (same code, provider and id) or above it (same code and provider: A
 *    answered more, down to a record of its own): the cache never invents a failure;
 * 5. stale notes name fields of the record's type the operation selected, and B has none.
 *
 * A failure prints the sequence fast-check shrank it to; such cases become named tests in
 * `record-cache.test.ts`. Timeouts are represented by connections reset mid-answer: from the attempt on
 * the two take the same path (`UpstreamClient.attempt`), and a real deadline would have this test race
 * the wall clock.
 */

const SEED = Number(process.env.TRANSPARENCY_SEED ?? 20_261_205);
const RUNS = Number(process.env.TRANSPARENCY_RUNS ?? 500);

// ——— The servers ——————————————————————————————————————————————————————————————————————————————

const ADMIN_TOKEN = 'transparency-admin-token';

/** Upstream limits out of the way (a 429 or 409 here comes from a fault, never from timing), circuits that never open. */
const EMULATORS = {
  x: { rateLimit: { limit: 1_000_000_000, windowSeconds: 900 } },
  nexudus: { throttle: false as const },
  bitrix24: { portals: [{ name: 'portal-a', emulator: { bucket: { perSecond: 1_000_000, burst: 1_000_000 } } }] },
};
const COMMON_ENV = {
  UPSTREAM_CIRCUIT_FAILURES: '1000',
  CACHE_ADMIN_TOKEN: ADMIN_TOKEN,
  X_CACHE_TTL_SECONDS: '60',
  TELEGRAM_CACHE_TTL_SECONDS: '60',
  BITRIX24_CACHE_TTL_SECONDS: '60',
  NEXUDUS_CACHE_TTL_SECONDS: '60',
  CACHE_STALE_SECONDS: '120',
  CACHE_MISSING_TTL_SECONDS: '30',
};
const CACHES = (on: boolean) =>
  Object.fromEntries(['X', 'TELEGRAM', 'BITRIX24', 'NEXUDUS'].map((name) => [`${name}_CACHE`, on ? '1' : '0']));

interface Server {
  h: Harness;
  clock: ManualClock;
}

async function server(cache: boolean): Promise<Server> {
  const clock = new ManualClock();
  const h = await startHarness({ env: { ...COMMON_ENV, ...CACHES(cache) }, emulators: EMULATORS, clock });
  return { h, clock };
}

let on: Server;
let off: Server;
let truth: Server;

beforeAll(async () => {
  [on, off, truth] = await Promise.all([server(true), server(false), server(false)]);
});
afterAll(async () => {
  await Promise.all([on?.h.close(), off?.h.close(), truth?.h.close()]);
});

// ——— Operations ——————————————————————————————————————————————————————————————————————————————————

const schema = buildSchema(providers);
const KEYS: Record<string, string> = { XUser: 'id', XTweet: 'id', TelegramUser: 'id', Bitrix24User: 'portal id', NexudusUser: 'id' };
const PROVIDER_OF: Record<string, string> = {
  XUser: 'x',
  XTweet: 'x',
  TelegramUser: 'telegram',
  Bitrix24User: 'bitrix24',
  NexudusUser: 'nexudus',
};

const selections = new Map<string, fc.Arbitrary<string>>();
/** A random selection set of `typeName` (each field in about half the cases), objects `depth` levels down. */
function selection(typeName: string, depth: number): fc.Arbitrary<string> {
  const id = `${typeName}:${depth}`;
  let arbitrary = selections.get(id);
  if (arbitrary !== undefined) return arbitrary;
  const type = schema.getType(typeName) as GraphQLObjectType;
  const key = KEYS[typeName];
  const parts: Array<fc.Arbitrary<string | null>> = [];
  for (const field of Object.values(type.getFields())) {
    if (key?.split(' ').includes(field.name)) continue;
    const named = getNamedType(field.type);
    if (!isObjectType(named)) parts.push(fc.option(fc.constant(field.name), { freq: 2 }));
    else if (depth > 0)
      parts.push(
        fc.option(
          selection(named.name, depth - 1).map((inner) => `${field.name} { ${inner} }`),
          { freq: 3 },
        ),
      );
  }
  // An entity is always selected with its type and key: how the relation's notes find it.
  const always = key === undefined ? [] : ['__typename', key];
  arbitrary = fc.tuple(...parts).map((chosen) => {
    const fields = [...always, ...chosen.filter((part): part is string => part !== null)];
    return fields.length === 0 ? '__typename' : fields.join(' ');
  });
  selections.set(id, arbitrary);
  return arbitrary;
}

const X_IDS = ['1', '2', '3', '5', '17', '20000'];
const X_USERNAMES = ['user1', 'USER2', 'user17', 'nobody42'];
const TELEGRAM_IDS = ['1', '2', '25', '999', '20000'];
const TELEGRAM_USERNAMES = ['tg_user3', 'TG_USER25', 'tg_vip25', 'tg_nobody'];
const BITRIX24_IDS = ['1', '2', '3', '20000'];
const NEXUDUS_IDS = ['1', '2', '25', '20000'];
const list = (values: readonly string[]) => fc.array(fc.constantFrom(...values), { minLength: 1, maxLength: 4 });
const literal = (values: readonly string[]) => JSON.stringify(values);

interface Root {
  /** The root field with its arguments, and the selection under it. */
  field: fc.Arbitrary<{ text: string; variable?: { name: string; type: string; value: unknown } }>;
}

const representation = fc.oneof(
  fc.constantFrom(...X_IDS).map((id) => ({ __typename: 'XUser', id })),
  fc.constantFrom('1001', '2001', '999999').map((id) => ({ __typename: 'XTweet', id })),
  fc.constantFrom(...TELEGRAM_IDS).map((id) => ({ __typename: 'TelegramUser', id })),
  fc.constantFrom(...BITRIX24_IDS).map((id) => ({ __typename: 'Bitrix24User', portal: 'portal-a', id })),
  fc.constantFrom(...NEXUDUS_IDS).map((id) => ({ __typename: 'NexudusUser', id })),
);

const roots: Root[] = [
  { field: fc.tuple(list(X_IDS), selection('XUser', 2)).map(([ids, sel]) => ({ text: `xUsers(ids: ${literal(ids)}) { ${sel} }` })) },
  {
    field: fc
      .tuple(list(X_USERNAMES), selection('XUser', 1))
      .map(([names, sel]) => ({ text: `xUsersByUsername(usernames: ${literal(names)}) { ${sel} }` })),
  },
  {
    field: fc
      .tuple(fc.boolean(), list(TELEGRAM_IDS), list(TELEGRAM_USERNAMES), selection('TelegramUser', 1))
      .map(([byId, ids, names, sel]) => ({
        text: byId ? `telegramUsers(ids: ${literal(ids)}) { ${sel} }` : `telegramUsers(usernames: ${literal(names)}) { ${sel} }`,
      })),
  },
  {
    field: fc
      .tuple(list(BITRIX24_IDS), selection('Bitrix24User', 1))
      .map(([ids, sel]) => ({ text: `bitrix24Users(ids: ${literal(ids)}) { ${sel} }` })),
  },
  {
    field: fc
      .tuple(list(NEXUDUS_IDS), selection('NexudusUser', 1))
      .map(([ids, sel]) => ({ text: `nexudusUsers(ids: ${literal(ids)}) { ${sel} }` })),
  },
  {
    field: fc
      .tuple(
        fc.array(representation, { minLength: 1, maxLength: 5 }),
        ...['XUser', 'XTweet', 'TelegramUser', 'Bitrix24User', 'NexudusUser'].map((type) =>
          selection(type, 1).map((sel) => `... on ${type} { ${sel} }`),
        ),
      )
      .map(([representations, ...fragments]) => ({
        text: `_entities(representations: $REPRESENTATIONS) { ${fragments.join(' ')} }`,
        variable: { name: 'REPRESENTATIONS', type: '[_Any!]!', value: representations },
      })),
  },
];

interface Operation {
  query: string;
  variables: Record<string, unknown>;
}

/** One to three root fields, each under an alias of its own (the same root twice asks it with two selections). */
const operation: fc.Arbitrary<Operation> = fc
  .array(fc.oneof(...roots.map((root) => root.field)), { minLength: 1, maxLength: 3 })
  .map((fields) => {
    const variables: Record<string, unknown> = {};
    const declarations: string[] = [];
    const body = fields.map((field, i) => {
      let text = field.text;
      if (field.variable !== undefined) {
        const name = `${field.variable.name.toLowerCase()}${i}`;
        text = text.replace(`$${field.variable.name}`, `$${name}`);
        variables[name] = field.variable.value;
        declarations.push(`$${name}: ${field.variable.type}`);
      }
      return `a${i}: ${text}`;
    });
    const header = declarations.length === 0 ? '' : `(${declarations.join(', ')})`;
    return { query: `query Transparency${header} { ${body.join(' ')} }`, variables };
  });

// ——— Faults ——————————————————————————————————————————————————————————————————————————————————————

type ProviderName = 'x' | 'telegram' | 'bitrix24' | 'nexudus';

/** A fault that stands for one step, on one provider's route (or all of its routes). */
type Fault =
  | { provider: 'x'; route: string | undefined; fault: HttpFault | 'spent-window' }
  | { provider: 'nexudus'; route: string | undefined; fault: HttpFault }
  | { provider: 'bitrix24'; route: undefined; fault: Bitrix24Fault }
  | { provider: 'telegram'; route: string | undefined; fault: TelegramFault };

const httpFaults: Array<fc.Arbitrary<HttpFault>> = [
  fc.constantFrom<HttpFault>({ kind: 'status', status: 500 }, { kind: 'status', status: 503 }),
  fc.constant<HttpFault>({ kind: 'reset' }),
  fc.constant<HttpFault>({ kind: 'truncated-json' }),
  fc.constant<HttpFault>({ kind: 'html', status: 502 }),
];

const faultOf: Record<ProviderName, fc.Arbitrary<Fault>> = {
  x: fc.record({
    provider: fc.constant('x' as const),
    // Not `/2/users` or `/2/tweets` alone: with the cache on, a record that came along with another is
    // asked of its own endpoint (a post's author of `/2/users`, a pinned post of `/2/tweets`), where the
    // cache off gets it with the other record. With only that endpoint failing, the cache on answers the
    // record's fields `null` with the error: less, never wrong (docs/sharing.md, "Record cache"; a named test in
    // `record-cache.test.ts`).
    route: fc.constantFrom(undefined, '/2/users/by'),
    fault: fc.oneof(fc.constant('spent-window' as const), ...httpFaults),
  }),
  nexudus: fc.record({
    provider: fc.constant('nexudus' as const),
    route: fc.constantFrom(undefined, 'list', 'single'),
    fault: fc.oneof(fc.constant<HttpFault>({ kind: 'status', status: 409 }), ...httpFaults),
  }),
  bitrix24: fc.record({
    provider: fc.constant('bitrix24' as const),
    route: fc.constant(undefined),
    fault: fc.oneof(fc.constant<Bitrix24Fault>({ kind: 'status', status: 503, error: 'QUERY_LIMIT_EXCEEDED' }), ...httpFaults),
  }),
  telegram: fc.record({
    provider: fc.constant('telegram' as const),
    route: fc.constantFrom(undefined, 'users.getUsers', 'contacts.resolveUsername'),
    fault: fc.constantFrom<TelegramFault>(
      { kind: 'rpc-error', code: 500, text: 'INTERNAL' },
      { kind: 'rpc-error', code: 420, text: 'FLOOD_WAIT_30' },
      { kind: 'rpc-error', code: 500, text: 'RPC_CALL_FAIL' },
    ),
  }),
};

const faults: fc.Arbitrary<Fault[]> = fc
  .tuple(...(Object.keys(faultOf) as ProviderName[]).map((name) => fc.option(faultOf[name], { freq: 3 })))
  .map((chosen) => chosen.filter((fault): fault is Fault => fault !== null));

function apply(s: Server, fault: Fault | undefined, which: Fault['provider']): void {
  const standing = fault?.provider === which ? fault : undefined;
  switch (which) {
    case 'x': {
      const queue = s.h.emulator('x').faults;
      queue.clear();
      if (standing?.provider !== 'x') return;
      // X's window spent, resetting this very second: calls in the step are refused, and no block outlives
      // it. (A block that did would be learnt only by the server that called X during the step: the cache
      // off, whenever the cache on answered from its entries. Two deployments that learnt different things
      // about an upstream's state may fail for different reasons; that is not what this test is about.)
      const spent: HttpFault = {
        kind: 'status',
        status: 429,
        headers: {
          'x-rate-limit-limit': '300',
          'x-rate-limit-remaining': '0',
          'x-rate-limit-reset': String(Math.floor(s.clock.wallNow() / 1000)),
        },
      };
      queue.always(standing.fault === 'spent-window' ? spent : standing.fault, standing.route);
      return;
    }
    case 'nexudus': {
      const queue = s.h.emulator('nexudus').faults;
      queue.clear();
      if (standing?.provider === 'nexudus') queue.always(standing.fault, standing.route);
      return;
    }
    case 'bitrix24':
      for (const portal of s.h.emulator('bitrix24').values()) {
        portal.faults.clear();
        if (standing?.provider === 'bitrix24') portal.faults.always(standing.fault, standing.route);
      }
      return;
    case 'telegram': {
      const queue = s.h.emulator('telegram').faults;
      queue.clear();
      if (standing?.provider === 'telegram') queue.always(standing.fault, standing.route);
      return;
    }
  }
}

function applyAll(s: Server, step: Fault[]): void {
  for (const which of ['x', 'nexudus', 'bitrix24', 'telegram'] as const)
    apply(
      s,
      step.find((fault) => fault.provider === which),
      which,
    );
}

// ——— Steps ————————————————————————————————————————————————————————————————————————————————————————

interface Step {
  /** How far both clocks move before the step: nothing, a little, past the TTL (60 s), past the stale window too (120 s more). */
  advanceMs: number;
  faults: Fault[];
  operation: Operation;
}

const step: fc.Arbitrary<Step> = fc.record({
  advanceMs: fc.constantFrom(0, 0, 1_000, 45_000, 70_000, 200_000),
  faults,
  operation,
});

type Body = {
  data?: Record<string, unknown> | null;
  errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, unknown> }>;
  extensions?: { stale?: Array<{ provider: string; id: string; ageSeconds: number; fields?: string[] }> };
};

/** The answer, each server's own emulator addresses (in Bitrix24 profile URLs) written alike. */
async function ask(s: Server, op: Operation): Promise<{ status: number; body: Body }> {
  const { status, body } = await s.clock.run(s.h.gql(op.query, op.variables));
  return { status, body: JSON.parse(JSON.stringify(body).replace(/http:\/\/127\.0\.0\.1:\d+/g, 'http://emulator')) as Body };
}

const truths = new Map<string, Promise<{ status: number; body: Body }>>();
/** What a healthy upstream answers (the demo data depends on nothing but ids): asked once per operation. */
function truthOf(op: Operation): Promise<{ status: number; body: Body }> {
  const key = JSON.stringify(op);
  let answer = truths.get(key);
  if (answer === undefined) {
    answer = ask(truth, op);
    truths.set(key, answer);
  }
  return answer;
}

/** Nothing cached, no fault, every X budget block past: each sequence starts as a fresh deployment would. */
async function fresh(): Promise<void> {
  for (const s of [on, off]) {
    const res = await fetch(`${s.h.url}/cache/evict`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ all: true }),
    });
    if (!res.ok && s === on) throw new Error(`evict answered ${res.status}`);
    s.h.reset();
    await s.clock.advance(10_000);
  }
}

// ——— The relation ————————————————————————————————————————————————————————————————————————————————

type Path = Array<string | number>;
const at = (value: unknown, key: string | number): unknown =>
  value !== null && typeof value === 'object' ? (value as Record<string | number, unknown>)[key] : undefined;

/** Errors by path, and whether `path` or a path above it has one. */
function errorsOf(body: Body) {
  const byPath = new Map<string, { code: unknown; provider: unknown; id: unknown }>();
  for (const error of body.errors ?? []) {
    const ext = error.extensions ?? {};
    byPath.set(JSON.stringify(error.path ?? []), { code: ext.code, provider: ext.provider, id: ext.id });
  }
  return {
    byPath,
    /** The error at `path` or nearest above it, and whether it is at `path` itself. */
    covering(path: Path) {
      for (let n = path.length; n >= 0; n--) {
        const found = byPath.get(JSON.stringify(path.slice(0, n)));
        if (found !== undefined) return { ...found, here: n === path.length };
      }
      return undefined;
    },
  };
}

/** Rules 1 and 2 for one answer against the truth. */
function checkTruth(name: string, body: Body, truthBody: Body, problems: string[]): void {
  const errors = errorsOf(body);
  const walk = (value: unknown, truthValue: unknown, path: Path) => {
    if (value === null || value === undefined) {
      if (truthValue !== null && truthValue !== undefined && errors.covering(path) === undefined) {
        problems.push(`${name}: null without an error at ${path.join('.')}, where the upstream has ${JSON.stringify(truthValue)}`);
      }
      return;
    }
    if (truthValue === null || truthValue === undefined) {
      problems.push(`${name}: ${JSON.stringify(value)} at ${path.join('.')}, where the upstream has no value`);
      return;
    }
    if (Array.isArray(value)) {
      if (!Array.isArray(truthValue) || truthValue.length !== value.length) {
        problems.push(`${name}: ${JSON.stringify(value)} at ${path.join('.')} is not the upstream's ${JSON.stringify(truthValue)}`);
        return;
      }
      for (const [i, item] of value.entries()) walk(item, truthValue[i], [...path, i]);
      return;
    }
    if (typeof value === 'object') {
      for (const key of Object.keys(value as object)) walk(at(value, key), at(truthValue, key), [...path, key]);
      return;
    }
    if (value !== truthValue)
      problems.push(`${name}: ${JSON.stringify(value)} at ${path.join('.')} is not the upstream's ${JSON.stringify(truthValue)}`);
  };
  walk(body.data ?? null, truthBody.data ?? null, []);
}

/** Rules 3, 4 and 5: A against B. */
function checkCacheAgainstNone(a: Body, b: Body, t: Body, op: Operation, problems: string[]): void {
  const walk = (av: unknown, bv: unknown, path: Path) => {
    if (bv === null || bv === undefined) return;
    if (av === null || av === undefined) {
      problems.push(`cache on lost ${JSON.stringify(bv)} at ${path.join('.')}, which cache off answered`);
      return;
    }
    if (typeof bv === 'object') for (const key of Object.keys(bv as object)) walk(at(av, key), at(bv, key), [...path, key]);
  };
  walk(a.data ?? null, b.data ?? null, []);

  const bErrors = errorsOf(b);
  const truthErrors = errorsOf(t);
  for (const error of a.errors ?? []) {
    const path = error.path ?? [];
    const mine = { code: error.extensions?.code, provider: error.extensions?.provider, id: error.extensions?.id };
    // What the upstream itself answers there (a NOT_FOUND the cache kept): true, whatever B met.
    const upstream = truthErrors.byPath.get(JSON.stringify(path));
    if (upstream !== undefined && upstream.code === mine.code && upstream.provider === mine.provider && upstream.id === mine.id) continue;
    const theirs = bErrors.covering(path);
    // Below B's error, A answered more: its error there is about a record further down (a post's author), of another id.
    if (theirs === undefined || theirs.code !== mine.code || theirs.provider !== mine.provider || (theirs.here && theirs.id !== mine.id)) {
      problems.push(
        `cache on answered ${JSON.stringify(mine)} at ${path.join('.')}, cache off ${JSON.stringify(theirs ?? 'no error')} there`,
      );
    }
  }

  if (b.extensions?.stale !== undefined) problems.push('cache off marked answers stale');
  for (const note of a.extensions?.stale ?? []) {
    const type = Object.keys(PROVIDER_OF).find((name) => PROVIDER_OF[name] === note.provider && name !== 'XTweet');
    const selectable = new Set<string>();
    for (const [typeName, provider] of Object.entries(PROVIDER_OF)) {
      if (provider !== note.provider) continue;
      for (const field of Object.keys((schema.getType(typeName) as GraphQLObjectType).getFields())) selectable.add(field);
    }
    const stray = (note.fields ?? []).filter((field) => !selectable.has(field) || !new RegExp(`\\b${field}\\b`).test(op.query));
    if (type === undefined || !(note.ageSeconds >= 0) || note.fields === undefined || stray.length > 0) {
      problems.push(`stale note ${JSON.stringify(note)} names fields the operation did not select: ${stray.join(', ')}`);
    }
  }
}

function violations(
  a: { status: number; body: Body },
  b: { status: number; body: Body },
  t: { status: number; body: Body },
  op: Operation,
): string[] {
  const problems: string[] = [];
  if (a.status !== 200 || b.status !== 200 || t.status !== 200) problems.push(`HTTP ${a.status} / ${b.status} / ${t.status}`);
  if (t.body.errors?.some((error) => error.extensions?.code !== 'NOT_FOUND'))
    problems.push(`the truth has errors: ${JSON.stringify(t.body.errors)}`);
  checkTruth('cache on', a.body, t.body, problems);
  checkTruth('cache off', b.body, t.body, problems);
  checkCacheAgainstNone(a.body, b.body, t.body, op, problems);
  return problems;
}

// ——— The property —————————————————————————————————————————————————————————————————————————————————

describe('the record cache is invisible in answers', () => {
  it(`${RUNS} random sequences of operations and upstream faults: cache on answers what cache off answers, and more only when true (seed ${SEED})`, async () => {
    let sequences = 0;
    let steps = 0;
    let staleServed = 0;
    let aRicher = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), async (sequence) => {
        sequences++;
        await fresh();
        for (const [n, current] of sequence.entries()) {
          steps++;
          // Both clocks to the same time (retries and pacing moved each its own way in the step before).
          const target = Math.max(on.clock.now(), off.clock.now()) + current.advanceMs;
          await Promise.all([on.clock.advance(target - on.clock.now()), off.clock.advance(target - off.clock.now())]);
          applyAll(on, current.faults);
          applyAll(off, current.faults);
          const [a, b] = await Promise.all([ask(on, current.operation), ask(off, current.operation)]);
          applyAll(on, []);
          applyAll(off, []);
          const t = await truthOf(current.operation);
          const problems = violations(a, b, t, current.operation);
          if ((a.body.extensions?.stale?.length ?? 0) > 0) staleServed++;
          if ((a.body.errors?.length ?? 0) < (b.body.errors?.length ?? 0)) aRicher++;
          if (problems.length > 0) {
            throw new Error(
              `step ${n + 1} of ${sequence.length}:\n${problems.join('\n')}\n` +
                `operation: ${JSON.stringify(current.operation)}\nfaults: ${JSON.stringify(current.faults)}\n` +
                `cache on: ${JSON.stringify(a.body)}\ncache off: ${JSON.stringify(b.body)}\ntruth: ${JSON.stringify(t.body)}`,
            );
          }
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // The sequences reached what the relation is about: stale answers, and answers richer with the cache.
    expect(sequences).toBeGreaterThanOrEqual(RUNS);
    expect({ steps: steps > RUNS, staleServed: staleServed > RUNS / 20, aRicher: aRicher > RUNS / 20 }).toEqual({
      steps: true,
      staleServed: true,
      aRicher: true,
    });
  }, 900_000);
});
