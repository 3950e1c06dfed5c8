import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type RunningGateway, type SubgraphCall, startApolloGateway, startHiveGateway } from '../support/gateways.js';
import { type Harness, startHarness } from '../support/harness.js';
import { type PostsArgs, postsOf, type StartedSubgraph, startPostsSubgraph, UNKNOWN } from '../support/posts-subgraph.js';

/**
 * The users subgraph behind both real gateways, end to end: a posts subgraph hands out references to
 * users of all four providers, and the SAME operations run through `@apollo/gateway` and through Hive
 * Gateway (both in process, on loopback ports). Each case asserts the data, what the gateway sent the
 * users subgraph, and what that cost upstream (the emulators' request logs; the record cache is off in
 * the harness, so every case costs what it asks).
 *
 * Both compose from the subgraphs' live `_service { sdl }` (the default, AUTH_DIRECTIVES_IN_SDL unset), and
 * the posts subgraph has its own `User` entity and `Provider` enum beside the users subgraph's
 * `ExternalUser` and `ExternalUserProvider`: every operation below selects both.
 *
 * How the gateways differ, and what the subgraph sees of it (docs/limits.md, "Limits"):
 * - @apollo/gateway sends one `_entities` fetch per entity type (four requests for four providers) and
 *   does not remove repeated representations: 1,001 posts by 10 authors are 1,001 representations.
 * - Hive Gateway merges the fetches of one plan step into one request (four aliased `_entities` fields,
 *   300 posts x 4 types = 1,200 representations) and removes repeated representations (10 for 1,001 posts).
 */

const PORTAL = 'portal-a';
/** An X user-context token the X emulator knows as "alice" (docs/access-control.md, "Per-caller credentials"). */
const ALICE_X_TOKEN = 'alice-gateway-x-token-0001';

const ALL_PROVIDERS = /* GraphQL */ `
  query Posts($count: Int!, $authors: Int, $unknownAt: [Int!]) {
    posts(count: $count, authors: $authors, unknownAt: $unknownAt) {
      id
      title
      createdBy { id name }
      source
      author { id name }
      telegramAuthor { id username }
      bitrixAuthor { portal id name }
      nexudusMember { id fullName }
    }
  }
`;

const X_ONLY = /* GraphQL */ `
  query XAuthors($count: Int!, $authors: Int) {
    posts(count: $count, authors: $authors) { id author { id name } }
  }
`;

let h: Harness;
let posts: StartedSubgraph;
const gateways = new Map<'apollo' | 'hive', RunningGateway>();

beforeAll(async () => {
  h = await startHarness({
    // Inline traces for @apollo/gateway's ftv1; personal fields open (the harness adds AUTH_PERSONAL_DATA=open).
    env: { INLINE_TRACES: '1' },
    emulators: { x: { userTokens: [{ name: 'alice', token: ALICE_X_TOKEN }] } },
  });
  posts = await startPostsSubgraph(PORTAL);
  const subgraphs = { usersUrl: `${h.url}/graphql`, postsUrl: posts.url };
  gateways.set('apollo', await startApolloGateway(subgraphs));
  gateways.set('hive', await startHiveGateway(subgraphs));
});

afterAll(async () => {
  for (const gateway of gateways.values()) await gateway.close();
  await posts?.server.stop();
  await h?.close();
});

beforeEach(() => {
  h.reset();
  for (const gateway of gateways.values()) gateway.reset();
});

/** Upstream requests per provider since the last reset (Nexudus: its list calls; its token is fetched once per process). */
function upstreamCalls() {
  return {
    x: h.emulator('x').requests.filter((r) => r.path === '/2/users').length,
    telegram: h.emulator('telegram').rpcs.filter((r) => r.method === 'users.getUsers').length,
    bitrix24: h.emulator('bitrix24').get(PORTAL)!.requests.length,
    nexudus: h.emulator('nexudus').requests.filter((r) => r.kind !== 'token').length,
  };
}

/** The gateway's requests to the users subgraph: every one answered HTTP 200, whatever it held. */
function usersFetches(gateway: RunningGateway): SubgraphCall[] {
  const fetches = gateway.calls.filter((c) => c.subgraph === 'users');
  expect(fetches.map((c) => c.status)).toEqual(fetches.map(() => 200));
  return fetches;
}

/** Representations per `_entities` field, per request to the users subgraph. */
function representationCounts(gateway: RunningGateway): number[][] {
  return usersFetches(gateway).map((c) =>
    Object.values(c.variables)
      .filter(Array.isArray)
      .map((list) => list.length),
  );
}

/** What `ALL_PROVIDERS` answers for one post the providers know. */
function expectedPost(post: ReturnType<typeof postsOf>[number]) {
  const id = post.authorId;
  return {
    id: post.id,
    title: post.title,
    // The posts subgraph's own `User` and `Provider`, beside the users subgraph's types in one supergraph.
    createdBy: post.createdBy,
    source: post.source,
    author: { id, name: `Demo User ${id}` },
    telegramAuthor: { id, username: `tg_user${id}` },
    bitrixAuthor: { portal: PORTAL, id, name: `Demo User ${id}` },
    nexudusMember: { id, fullName: `Demo User ${id}` },
  };
}

describe.each(['apollo', 'hive'] as const)('through %s', (name) => {
  const gateway = () => gateways.get(name)!;

  it('200 posts by 200 users of each provider: the data, and X 2, Telegram 2, Bitrix24 1, Nexudus 2 upstream calls', async () => {
    const args: PostsArgs = { count: 200 };
    const { status, body } = await gateway().query(ALL_PROVIDERS, { ...args });
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(body.data.posts).toEqual(postsOf(args).map(expectedPost));

    // @apollo/gateway: one fetch per type; Hive Gateway: one request with the four `_entities` fields.
    expect(representationCounts(gateway())).toEqual(name === 'apollo' ? [[200], [200], [200], [200]] : [[200, 200, 200, 200]]);
    // Whichever way they came, each provider's ids were asked in the fewest calls its API allows:
    // X 100 ids per /2/users, Telegram 100 per users.getUsers, Bitrix24 four im.user.list.get commands
    // of 50 in one `batch` request, Nexudus 100 per list call.
    expect(upstreamCalls()).toEqual({ x: 2, telegram: 2, bitrix24: 1, nexudus: 2 });
    expect(h.emulator('bitrix24').get(PORTAL)!.requests[0]).toMatchObject({ method: 'batch', commands: 4 });
  });

  it("the posts subgraph's own User and Provider beside ExternalUser and ExternalUserProvider: both resolve, both are in the schema", async () => {
    const { status, body } = await gateway().query(/* GraphQL */ `
      {
        posts(count: 2) { createdBy { id name } source author { id name provider } }
        user: __type(name: "User") { kind fields { name } }
        provider: __type(name: "Provider") { enumValues { name } }
        externalUserProvider: __type(name: "ExternalUserProvider") { enumValues { name } }
      }
    `);
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(body.data.posts).toEqual([
      { createdBy: { id: 'staff-1', name: 'Staff Member 1' }, source: 'GITHUB', author: { id: '1', name: 'Demo User 1', provider: 'X' } },
      { createdBy: { id: 'staff-2', name: 'Staff Member 2' }, source: 'GOOGLE', author: { id: '2', name: 'Demo User 2', provider: 'X' } },
    ]);
    expect(body.data.user).toEqual({ kind: 'OBJECT', fields: [{ name: 'id' }, { name: 'name' }] });
    expect(body.data.provider.enumValues.map((v: { name: string }) => v.name)).toEqual(['GITHUB', 'GOOGLE']);
    expect(body.data.externalUserProvider.enumValues.map((v: { name: string }) => v.name)).toEqual(
      expect.arrayContaining(['X', 'TELEGRAM', 'BITRIX24', 'NEXUDUS']),
    );
    // Only `author` went to the users subgraph; `createdBy` and `source` are the posts subgraph's own.
    expect(usersFetches(gateway())).toHaveLength(1);
  });

  it('a user a provider does not know: NOT_FOUND with code, provider and id passed on, and the list of posts kept', async () => {
    const args: PostsArgs = { count: 5, unknownAt: [2] };
    const { status, body } = await gateway().query(ALL_PROVIDERS, { ...args });
    expect(status).toBe(200);
    const expected = postsOf(args);
    expect(body.data.posts).toHaveLength(5);
    for (const index of [0, 1, 3, 4]) expect(body.data.posts[index]).toEqual(expectedPost(expected[index]!));

    const missing = body.data.posts[2];
    expect(missing).toMatchObject({ id: 'p3', title: 'Post 3', createdBy: { id: 'staff-1', name: 'Staff Member 1' }, source: 'GITHUB' });
    // Every field of a user but its key is nullable (schema/users.graphql, `User`): the missing user stays
    // at its position as its key, every other field null, with the error saying why. The post and the list stand.
    expect(missing.author).toEqual({ id: UNKNOWN.x, name: null });
    expect(missing.telegramAuthor).toEqual({ id: UNKNOWN.telegram, username: null });
    expect(missing.bitrixAuthor).toEqual({ portal: PORTAL, id: UNKNOWN.bitrix24, name: null });
    expect(missing.nexudusMember).toEqual({ id: UNKNOWN.nexudus, fullName: null });

    const notFound = (body.errors ?? []).map((e) => ({
      code: e.extensions?.code,
      provider: e.extensions?.provider,
      id: e.extensions?.id,
      under: e.path?.slice(0, 3).join('.'),
    }));
    expect(notFound).toEqual(
      expect.arrayContaining([
        { code: 'NOT_FOUND', provider: 'x', id: UNKNOWN.x, under: 'posts.2.author' },
        { code: 'NOT_FOUND', provider: 'telegram', id: UNKNOWN.telegram, under: 'posts.2.telegramAuthor' },
        { code: 'NOT_FOUND', provider: 'bitrix24', id: UNKNOWN.bitrix24, under: 'posts.2.bitrixAuthor' },
        { code: 'NOT_FOUND', provider: 'nexudus', id: UNKNOWN.nexudus, under: 'posts.2.nexudusMember' },
      ]),
    );
    expect(notFound).toHaveLength(4);
    expect(upstreamCalls()).toEqual({ x: 1, telegram: 1, bitrix24: 1, nexudus: 1 });
  });

  it("forwards the caller's own X token: the X emulator saw the caller's principal, the posts subgraph saw no token", async () => {
    const { status, body } = await gateway().query(X_ONLY, { count: 3 }, { 'x-caller-x-token': ALICE_X_TOKEN });
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(body.data.posts.map((p: any) => p.author.name)).toEqual(['Demo User 1', 'Demo User 2', 'Demo User 3']);
    expect(h.emulator('x').requests.map((r) => r.principal)).toEqual(['alice']);
    expect(usersFetches(gateway()).map((c) => c.headers['x-caller-x-token'])).toEqual([ALICE_X_TOKEN]);
    expect(
      gateway()
        .calls.filter((c) => c.subgraph === 'posts')
        .map((c) => c.headers['x-caller-x-token']),
    ).toEqual([undefined]);

    // Without the header, the server's own credentials.
    h.reset();
    await gateway().query(X_ONLY, { count: 3 });
    expect(h.emulator('x').requests.map((r) => r.principal)).toEqual(['app']);
  });

  it('inline traces (ftv1): @apollo/gateway asks for them and receives one for every fetch; Hive Gateway does not ask', async () => {
    const { status } = await gateway().query(ALL_PROVIDERS, { count: 3 });
    expect(status).toBe(200);
    const fetches = usersFetches(gateway());
    if (name === 'hive') {
      expect(fetches.map((f) => [f.headers['apollo-federation-include-trace'], f.body.extensions?.ftv1])).toEqual([[undefined, undefined]]);
      return;
    }
    // The gateway decoded a trace for each of its four fetches to the users subgraph (its query plan trace).
    expect(gateway().traces).toEqual([{ usersFetches: 4, withTrace: 4 }]);
    expect(fetches).toHaveLength(4);
    for (const fetch of fetches) {
      expect(fetch.headers['apollo-federation-include-trace']).toBe('ftv1');
      expect(fetch.body.extensions?.ftv1).toMatch(/^[A-Za-z0-9+/]+=*$/);
    }
  });

  describe('the caps (docs/limits.md, "Limits")', () => {
    it('300 posts x 4 providers (Hive Gateway: 1,200 representations in one request) pass', async () => {
      const args: PostsArgs = { count: 300 };
      const { status, body } = await gateway().query(ALL_PROVIDERS, { ...args });
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
      expect(body.data.posts).toEqual(postsOf(args).map(expectedPost));
      expect(representationCounts(gateway())).toEqual(name === 'apollo' ? [[300], [300], [300], [300]] : [[300, 300, 300, 300]]);
      expect(upstreamCalls()).toEqual({ x: 3, telegram: 3, bitrix24: 1, nexudus: 3 });
    });

    it('1,001 posts by 10 authors (@apollo/gateway: 1,001 representations) pass, for one X call', async () => {
      const args: PostsArgs = { count: 1001, authors: 10 };
      const { status, body } = await gateway().query(X_ONLY, { ...args });
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
      expect(body.data.posts).toEqual(
        postsOf(args).map((p) => ({ id: p.id, author: { id: p.authorId, name: `Demo User ${p.authorId}` } })),
      );
      expect(representationCounts(gateway())).toEqual([[name === 'apollo' ? 1001 : 10]]);
      expect(upstreamCalls().x).toBe(1);
    });

    it('1,001 distinct X authors, one over MAX_IDS_PER_OPERATION: HTTP 200, BAD_USER_INPUT at that post alone', async () => {
      const { status, body } = await gateway().query(X_ONLY, { count: 1001 });
      expect(status).toBe(200);
      expect(body.data.posts).toHaveLength(1001);
      expect(body.data.posts.slice(0, 1000).every((p: any, i: number) => p.author?.name === `Demo User ${i + 1}`)).toBe(true);
      expect(body.data.posts[1000].id).toBe('p1001');
      expect(body.data.posts[1000].author?.name ?? null).toBeNull();
      expect(body.errors).toHaveLength(1);
      expect(body.errors![0]!.path?.slice(0, 3)).toEqual(['posts', 1000, 'author']);
      expect(body.errors![0]!.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        provider: 'x',
        id: '1001',
        limit: 'MAX_IDS_PER_OPERATION',
        max: 1000,
      });
      expect(body.errors![0]!.message).toContain('MAX_IDS_PER_OPERATION');
      expect(upstreamCalls().x).toBe(10);
    });

    it('10,001 posts by 10 authors: @apollo/gateway sends 10,001 representations, one over MAX_LIST_ITEMS_PER_OPERATION; Hive sends 10', async () => {
      const args: PostsArgs = { count: 10_001, authors: 10 };
      const { status, body } = await gateway().query(X_ONLY, { ...args });
      expect(status).toBe(200);
      expect(body.data.posts).toHaveLength(10_001);
      expect(body.data.posts.slice(0, 10_000).every((p: any, i: number) => p.author?.name === `Demo User ${(i % 10) + 1}`)).toBe(true);
      expect(upstreamCalls().x).toBe(1);
      if (name === 'hive') {
        expect(representationCounts(gateway())).toEqual([[10]]);
        expect(body.errors).toBeUndefined();
        return;
      }
      expect(representationCounts(gateway())).toEqual([[10_001]]);
      expect(body.data.posts[10_000].author?.name ?? null).toBeNull();
      expect(body.errors).toHaveLength(1);
      expect(body.errors![0]!.path?.slice(0, 3)).toEqual(['posts', 10_000, 'author']);
      expect(body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'MAX_LIST_ITEMS_PER_OPERATION', max: 10_000 });
    });
  });
});
