import { composeServices } from '@apollo/composition';
import { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { providers } from '../src/providers/registry.js';
import { loadTypeDefs } from '../src/schema.js';
import { type Harness, startHarness } from './support/harness.js';
import { idsOf, xCalls } from './support/x.js';

/**
 * The subgraph behind a real Apollo Gateway: a second subgraph ("posts", defined here) returns
 * `XUser` references, the gateway resolves them through this subgraph's `_entities`, and the X
 * emulator records what that costs upstream. The gateway composes with `IntrospectAndCompose` from both
 * running subgraphs, as served by default (AUTH_DIRECTIVES_IN_SDL unset); the posts subgraph has its own
 * `User` entity and `Provider` enum, as a company's subgraph would.
 */

const POSTS_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])

  type Post @key(fields: "id") {
    id: ID!
    title: String!
    "Nullable so that an author X does not know nulls only this field, not the whole post list."
    author: XUser
    "This subgraph's own user type, beside the users subgraph's \`ExternalUser\`."
    createdBy: User!
    "This subgraph's own enum, beside the users subgraph's \`ExternalUserProvider\`."
    source: Provider!
  }

  type User @key(fields: "id") {
    id: ID!
    name: String!
  }

  enum Provider {
    GITHUB
    GOOGLE
  }

  type XUser @key(fields: "id", resolvable: false) {
    id: ID!
  }

  type Query {
    posts: [Post!]!
  }
`;

const UNKNOWN_ID = '99999999';
const DUPLICATE_AUTHORS = ['1', '75', '150'];

interface PostRecord {
  id: string;
  title: string;
  authorId: string;
}

/** Posts 1..150 by users 1..150, then three by authors already seen, then one by an id X does not know. */
const POSTS: PostRecord[] = [...Array.from({ length: 150 }, (_, i) => String(i + 1)), ...DUPLICATE_AUTHORS, UNKNOWN_ID].map(
  (authorId, i) => ({ id: `p${i + 1}`, title: `Post ${i + 1}`, authorId }),
);

/** The posts subgraph's own `User` who created a post, and its own `Provider`: odd posts GITHUB by staff 1, even GOOGLE by staff 2. */
function staffOf(post: PostRecord): { id: string; name: string } {
  const id = Number(post.id.slice(1)) % 2 === 1 ? 's1' : 's2';
  return { id, name: `Staff ${id}` };
}

function sourceOf(post: PostRecord): 'GITHUB' | 'GOOGLE' {
  return Number(post.id.slice(1)) % 2 === 1 ? 'GITHUB' : 'GOOGLE';
}

const DISTINCT_AUTHOR_IDS = new Set(POSTS.map((p) => p.authorId));
const UNKNOWN_INDEX = POSTS.findIndex((p) => p.authorId === UNKNOWN_ID);

interface StartedServer {
  server: ApolloServer;
  url: string;
}

async function startPostsSubgraph(): Promise<StartedServer> {
  const server = new ApolloServer({
    schema: buildSubgraphSchema({
      typeDefs: parse(POSTS_SDL),
      resolvers: {
        Query: { posts: () => POSTS },
        Post: {
          author: (post: PostRecord) => ({ __typename: 'XUser', id: post.authorId }),
          createdBy: (post: PostRecord) => staffOf(post),
          source: (post: PostRecord) => sourceOf(post),
        },
        User: { __resolveReference: ({ id }: { id: string }) => ({ id, name: `Staff ${id}` }) },
      },
    }),
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: '127.0.0.1' } });
  return { server, url };
}

/** One request the gateway sent to the users subgraph. */
interface SubgraphRequest {
  query: string;
  variables: Record<string, unknown>;
}

interface GatewayResult {
  data?: any;
  errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, any> }>;
}

let h: Harness;
let posts: StartedServer;
let gateway: StartedServer;
const usersSubgraphRequests: SubgraphRequest[] = [];

async function gatewayQuery(query: string): Promise<{ status: number; body: GatewayResult }> {
  const res = await fetch(gateway.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  return { status: res.status, body: (await res.json()) as GatewayResult };
}

beforeAll(async () => {
  h = await startHarness();
  posts = await startPostsSubgraph();

  // schema/ as it is composes, and the supergraph carries its access rules for a Router with GraphOS to
  // enforce (what the subgraph serves with AUTH_DIRECTIVES_IN_SDL=1; test/gateways/composition.test.ts).
  const withRules = composeServices([
    { name: 'users', url: `${h.url}/graphql`, typeDefs: parse(loadTypeDefs(providers)) },
    { name: 'posts', url: posts.url, typeDefs: parse(POSTS_SDL) },
  ]);
  expect(withRules.errors).toBeUndefined();
  expect(withRules.supergraphSdl).toContain('@link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)');
  expect(withRules.supergraphSdl).toMatch(/email: String @requiresScopes\(scopes: \[\["users:personal"\]\]\)/);

  // Apollo Gateway enforces neither directive, so it refuses a supergraph that has them ("feature
  // https://specs.apollo.dev/authenticated/v0.1 is for: SECURITY but is unsupported"). By default the
  // subgraph's `_service { sdl }` leaves them out and enforces them itself (docs/supergraph.md): the gateway
  // composes from the running subgraphs, as served.
  const apolloGateway = new ApolloGateway({
    supergraphSdl: new IntrospectAndCompose({
      subgraphs: [
        { name: 'users', url: `${h.url}/graphql` },
        { name: 'posts', url: posts.url },
      ],
    }),
    buildService: ({ name, url }) =>
      new RemoteGraphQLDataSource({
        url,
        willSendRequest({ request }) {
          if (name === 'users' && !request.query?.includes('_service')) {
            usersSubgraphRequests.push({ query: request.query ?? '', variables: { ...(request.variables ?? {}) } });
          }
        },
      }),
  });
  const server = new ApolloServer({ gateway: apolloGateway });
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: '127.0.0.1' } });
  gateway = { server, url };
});

afterAll(async () => {
  await gateway?.server.stop();
  await posts?.server.stop();
  await h?.close();
});

beforeEach(() => {
  h.reset();
  usersSubgraphRequests.length = 0;
});

function expectOneEntitiesFetch(): Array<{ __typename: string; id: string }> {
  const entityFetches = usersSubgraphRequests.filter((r) => r.query.includes('_entities'));
  expect(usersSubgraphRequests).toHaveLength(1);
  expect(entityFetches).toHaveLength(1);
  return entityFetches[0]!.variables.representations as Array<{ __typename: string; id: string }>;
}

/** `/2/users` calls: ceil(distinct / 100) of them, each id in exactly one call, all of them 200. */
function expectBatchedUserCalls(): ReturnType<typeof xCalls> {
  const calls = xCalls(h, '/2/users');
  expect(calls).toHaveLength(Math.ceil(DISTINCT_AUTHOR_IDS.size / 100));
  expect(calls).toHaveLength(2);
  for (const call of calls) {
    expect(call.method).toBe('GET');
    expect(call.status).toBe(200);
    expect(idsOf(call).length).toBeLessThanOrEqual(100);
  }
  const all = calls.flatMap((c) => idsOf(c));
  // No id is sent twice, neither within one call nor across calls; together they are every distinct author.
  expect(all).toHaveLength(new Set(all).size);
  expect(new Set(all)).toEqual(DISTINCT_AUTHOR_IDS);
  expect(calls.map((c) => idsOf(c).length).sort((a, b) => b - a)).toEqual([100, 51]);
  return calls;
}

describe('users subgraph behind Apollo Gateway', () => {
  it('resolves XUser references from another subgraph in batched upstream calls, pinned tweets included', async () => {
    const { status, body } = await gatewayQuery(
      `{ posts { id title createdBy { id name } source author { id name username publicMetrics { followersCount } pinnedTweet { text author { username } } } } }`,
    );
    expect(status).toBe(200);
    expect(body.data?.posts).toHaveLength(POSTS.length);

    body.data.posts.forEach((post: any, index: number) => {
      const expected = POSTS[index]!;
      expect(post.id).toBe(expected.id);
      expect(post.title).toBe(expected.title);
      // The posts subgraph's own `User` and `Provider`, next to the users subgraph's `XUser`.
      expect(post.createdBy).toEqual(staffOf(expected));
      expect(post.source).toBe(sourceOf(expected));
      if (expected.authorId === UNKNOWN_ID) {
        // Not found: the user stays at its position as its key, every other field null (schema: "Every
        // field but a user's key is nullable"), and the error below says why. The list keeps its posts.
        expect(post.author).toEqual({ id: UNKNOWN_ID, name: null, username: null, publicMetrics: null, pinnedTweet: null });
        return;
      }
      const id = Number(expected.authorId);
      const pinnedId = id * 1000 + 1;
      expect(post.author).toEqual({
        id: expected.authorId,
        name: `Demo User ${id}`,
        username: `user${id}`,
        publicMetrics: { followersCount: (id * 37) % 100_000 },
        // Demo users with id % 3 === 0 pin nothing.
        pinnedTweet: id % 3 === 0 ? null : { text: `Hello from @user${id}, demo tweet ${pinnedId}.`, author: { username: `user${id}` } },
      });
    });

    // The unknown id: one error, at the post's author, with the subgraph's code passed through by the gateway.
    expect(body.errors).toHaveLength(1);
    const error = body.errors![0]!;
    expect(error.path).toEqual(['posts', UNKNOWN_INDEX, 'author']);
    expect(error.extensions?.code).toBe('NOT_FOUND');
    expect(error.extensions?.serviceName).toBe('users');
    expect(error.extensions?.id).toBe(UNKNOWN_ID);
    expect(error.message).toContain(UNKNOWN_ID);

    // Gateway → users: a single `_entities` fetch. Apollo Gateway 2.14 does not dedupe representations
    // (one per non-null post author, duplicates included): deduping is the subgraph's job.
    const representations = expectOneEntitiesFetch();
    expect(representations).toHaveLength(POSTS.length);
    expect(representations.every((r) => r.__typename === 'XUser')).toBe(true);
    expect(new Set(representations.map((r) => r.id))).toEqual(DISTINCT_AUTHOR_IDS);

    // Users subgraph → X: ceil(151 / 100) = 2 user lookups, each asking for everything selected up front.
    for (const call of expectBatchedUserCalls()) {
      expect(call.query.expansions?.split(',')).toContain('pinned_tweet_id');
      expect(call.query['user.fields']?.split(',')).toContain('public_metrics');
      expect(call.query['tweet.fields']?.split(',')).toContain('author_id');
    }
    // Pinned tweets arrive as expansions and their authors come from the user loader: no tweet lookup.
    expect(xCalls(h, '/2/tweets')).toHaveLength(0);
    expect(xCalls(h)).toHaveLength(2);
  });

  it('asks X for nothing but ids when only id and name are selected', async () => {
    const { status, body } = await gatewayQuery(`{ posts { author { id name } } }`);
    expect(status).toBe(200);
    expect(body.data?.posts).toHaveLength(POSTS.length);
    body.data.posts.forEach((post: any, index: number) => {
      const { authorId } = POSTS[index]!;
      expect(post.author).toEqual({ id: authorId, name: authorId === UNKNOWN_ID ? null : `Demo User ${authorId}` });
    });
    expect(body.errors?.map((e) => [e.extensions?.code, e.path])).toEqual([['NOT_FOUND', ['posts', UNKNOWN_INDEX, 'author']]]);

    expectOneEntitiesFetch();
    for (const call of expectBatchedUserCalls()) {
      expect(Object.keys(call.query)).toEqual(['ids']);
    }
    expect(xCalls(h, '/2/tweets')).toHaveLength(0);
    expect(xCalls(h)).toHaveLength(2);
  });
});
