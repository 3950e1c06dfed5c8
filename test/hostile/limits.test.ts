import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { demoIds, type Harness, startHarness } from '../support/harness.js';

/**
 * What one operation may cost, bounded before it runs (docs/limits.md, "Limits"): each refusal names its
 * limit, costs no upstream call, and is quick; and the codes of requests this subgraph does not serve.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { MAX_RESPONSE_BYTES: String(64 * 1024) } });
});
afterAll(() => h.close());
beforeEach(() => h.reset());

/** A document of `levels` fragments, each spreading the one below twice under new response keys: 2^levels users. */
function fragmentBomb(levels: number): string {
  let fragments = 'fragment F0 on XUser { id name }\n';
  for (let i = 1; i <= levels; i++) {
    fragments += `fragment F${i} on XUser { a: pinnedTweet { author { ...F${i - 1} } } b: mostRecentTweet { author { ...F${i - 1} } } }\n`;
  }
  return `{ xUsers(ids: ["1"]) { ...F${levels} } }\n${fragments}`;
}

async function refusedBeforeRunning(query: string, variables?: Record<string, unknown>) {
  const { status, body } = await h.gql(query, variables);
  expect(body.data).toBeUndefined();
  expect(h.emulator('x').requests).toEqual([]);
  return { status, errors: body.errors! };
}

describe('refused before it runs, the limit named', () => {
  it('a 1.7 KB fragment bomb: depth, aliases and field selections counted through its fragments', async () => {
    const bomb = fragmentBomb(16);
    expect(bomb.length).toBeLessThan(1800);
    const { status, errors } = await refusedBeforeRunning(bomb);
    expect(status).toBe(400);
    expect(errors.map((e) => e.extensions!.limit)).toEqual(['MAX_QUERY_DEPTH', 'MAX_QUERY_ALIASES', 'MAX_QUERY_FIELDS']);
    for (const error of errors) expect(error.extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(errors[2]!.message).toBe('Query Cost limit of 2000 exceeded, found 655355 (MAX_QUERY_FIELDS)');
  });

  it('aliases: 3,000 aliases of _service { sdl } (60 KB in, 35 MB out before)', async () => {
    const query = `{ ${Array.from({ length: 3000 }, (_, i) => `a${i}: _service { sdl }`).join(' ')} }`;
    const { status, errors } = await refusedBeforeRunning(query);
    expect(status).toBe(400);
    // The token limit is met first: the document is not even parsed to the end.
    expect(errors[0]!.extensions!.code).toBe('GRAPHQL_PARSE_FAILED');
    expect(errors[0]!.message).toContain('tokens');
    // Named as every limit is: the variable, and its value.
    expect(errors[0]!.extensions).toMatchObject({ limit: 'MAX_QUERY_TOKENS', max: 5_000 });
    const fewer = `{ xUsers(ids: ["1"]) { ${Array.from({ length: 51 }, (_, i) => `a${i}: id`).join(' ')} } }`;
    expect((await refusedBeforeRunning(fewer)).errors[0]!.extensions).toMatchObject({ limit: 'MAX_QUERY_ALIASES', max: 50 });
  });

  it('depth, directives and root fields', async () => {
    const deep = `{ xUsers(ids: ["1"]) { ${'pinnedTweet { author { '.repeat(8)}id${' } }'.repeat(8)} } }`;
    expect((await refusedBeforeRunning(deep)).errors[0]!.extensions).toMatchObject({ limit: 'MAX_QUERY_DEPTH', max: 15 });
    const directives = `{ xUsers(ids: ["1"]) { ${Array.from({ length: 51 }, () => 'id @include(if: true)').join(' ')} } }`;
    expect((await refusedBeforeRunning(directives)).errors[0]!.extensions).toMatchObject({ limit: 'MAX_QUERY_DIRECTIVES' });
    const roots = `{ ${Array.from({ length: 21 }, (_, i) => `r${i}: xUsers(ids: ["${i + 1}"]) { id }`).join(' ')} }`;
    const root = await refusedBeforeRunning(roots);
    expect(root.errors.map((e) => e.extensions!.limit)).toContain('MAX_ROOT_FIELDS');
  });

  it('an answer larger than MAX_RESPONSE_BYTES is replaced by an error naming the limit, which no cache may keep', async () => {
    const res = await fetch(`${h.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: 'query($v: [ID!]!) { xUsers(ids: $v) { id name username description location url } }',
        variables: { v: demoIds(1000) },
      }),
    });
    const status = res.status;
    const body = (await res.json()) as { data?: unknown; errors?: unknown[] };
    expect(status).toBe(200);
    // The answer it replaces had no errors: Apollo's hint said public, max-age=900.
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(body.data).toBeUndefined();
    expect(body.errors).toEqual([
      expect.objectContaining({ extensions: { code: 'RESPONSE_TOO_LARGE', limit: 'MAX_RESPONSE_BYTES', max: 64 * 1024 } }),
    ]);
  });
});

describe('list items beyond MAX_LIST_ITEMS_PER_OPERATION: an error each, never a refused request (docs/limits.md, "Limits")', () => {
  // Its own server: the answers here are larger than the 64 KiB the server above allows.
  let big: Harness;
  beforeAll(async () => {
    big = await startHarness();
  });
  afterAll(() => big.close());

  it('ids and representations in all, duplicates included: HTTP 200, the items beyond null with BAD_USER_INPUT, nothing sent for them', async () => {
    // Was (before gateways' batches were served): HTTP 400 for the whole operation, which a gateway passes
    // on as one opaque error for every item of its fetch.
    big.reset();
    const { status, body } = await big.gql(
      'query($v: [ID!]!, $r: [_Any!]!) { xUsers(ids: $v) { id } _entities(representations: $r) { __typename } }',
      {
        v: Array.from({ length: 9_999 }, () => '1'),
        r: [
          { __typename: 'XUser', id: '2' },
          { __typename: 'XUser', id: '3' },
        ],
      },
    );
    expect(status).toBe(200);
    expect(body.data!.xUsers).toHaveLength(9_999);
    expect(body.data!.xUsers.every((u: { id: string }) => u.id === '1')).toBe(true);
    expect(body.data!._entities).toEqual([{ __typename: 'XUser' }, null]);
    expect(body.errors).toEqual([
      expect.objectContaining({
        path: ['_entities', 1],
        extensions: { code: 'BAD_USER_INPUT', limit: 'MAX_LIST_ITEMS_PER_OPERATION', max: 10_000 },
      }),
    ]);
    // Repeats cost nothing upstream: one call for ids 1 and 2; id 3 was never looked up.
    expect(big.emulator('x').requests.map((r) => r.query.ids)).toEqual(['1,2']);
  });

  it('a hostile list of a megabyte (250,000 ids): 10,000 answered, 10,000 errors, the rest null, and one upstream call', async () => {
    big.reset();
    const v = Array.from({ length: 250_000 }, () => '1');
    const { status, body } = await big.gql('query($v: [ID!]!) { xUsers(ids: $v) { id } }', { v });
    expect(status).toBe(200);
    const users: Array<{ id: string } | null> = body.data!.xUsers;
    expect(users).toHaveLength(250_000);
    expect(users.slice(0, 10_000).every((u) => u?.id === '1')).toBe(true);
    expect(users.slice(10_000).every((u) => u === null)).toBe(true);
    // The errors are bounded as well: one per item beyond up to the ceiling; the last counts the nulls after it.
    expect(body.errors).toHaveLength(10_000);
    expect(body.errors![0]).toMatchObject({
      path: ['xUsers', 10_000],
      extensions: { code: 'BAD_USER_INPUT', provider: 'x', id: '1', limit: 'MAX_LIST_ITEMS_PER_OPERATION', max: 10_000 },
    });
    expect(body.errors![9_999]).toMatchObject({ path: ['xUsers', 19_999], extensions: { alsoNotResolved: 230_000 } });
    expect(big.emulator('x').requests).toHaveLength(1);
  });
});

describe('requests this subgraph does not serve get their own code', () => {
  it('a mutation or a subscription: GRAPHQL_VALIDATION_FAILED, not an internal error', async () => {
    for (const operation of ['mutation { x }', 'subscription { x }']) {
      const { status, body } = await h.gql(operation);
      expect(status).toBe(400);
      expect(body.errors!.map((e) => e.extensions!.code)).toContain('GRAPHQL_VALIDATION_FAILED');
      expect(body.errors!.map((e) => e.message)).toContain(
        `This subgraph serves queries only; a ${operation.split(' ')[0]} cannot be run here`,
      );
    }
  });

  it('a persisted-query hash: PERSISTED_QUERY_NOT_SUPPORTED', async () => {
    const res = await fetch(`${h.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }', extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } } }),
    });
    const body = (await res.json()) as { errors: Array<{ extensions: { code: string } }> };
    expect(body.errors[0]!.extensions.code).toBe('PERSISTED_QUERY_NOT_SUPPORTED');
  });

  it('variables nested 5,000 deep: BAD_USER_INPUT', async () => {
    for (const [open, close] of [
      ['{"a":', '}'],
      ['[', ']'],
    ] as const) {
      const deep = `${open.repeat(5000)}"1"${close.repeat(5000)}`;
      const res = await fetch(`${h.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"query":"query($v: [ID!]!) { xUsers(ids: $v) { id } }","variables":{"v":${deep}}}`,
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { errors: Array<{ extensions: { code: string } }> };
      expect(body.errors[0]!.extensions.code).toBe('BAD_USER_INPUT');
    }
    expect(h.emulator('x').requests).toEqual([]);
  });
});

describe('_entities: each representation fails alone', () => {
  it('an unknown __typename, a type that is not an entity, a missing key: BAD_USER_INPUT at its own index; the others resolve', async () => {
    const { status, body } = await h.gql('query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on XUser { id } } }', {
      r: [
        { __typename: 'Nope', id: '1' },
        { __typename: 'XUser', id: '1' },
        { __typename: 'XUserPublicMetrics', id: '1' },
        { id: '2' },
        'XUser',
        { __typename: 'XUser' },
        { __typename: 'XUser', id: '2' },
      ],
    });
    expect(status).toBe(200);
    expect(body.data._entities).toEqual([null, { __typename: 'XUser', id: '1' }, null, null, null, null, { __typename: 'XUser', id: '2' }]);
    expect(body.errors!.map((e) => [e.path![1], e.extensions!.code]).sort()).toEqual([
      [0, 'BAD_USER_INPUT'],
      [2, 'BAD_USER_INPUT'],
      [3, 'BAD_USER_INPUT'],
      [4, 'BAD_USER_INPUT'],
      [5, 'BAD_USER_INPUT'],
    ]);
    expect(body.errors!.find((e) => e.path![1] === 0)!.message).toBe(
      'Representation 0 cannot be resolved: __typename "Nope" is not an entity of this subgraph',
    );
    expect(h.emulator('x').requests).toHaveLength(1);
  });
});
