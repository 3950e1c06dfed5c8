import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';

/**
 * A second subgraph for the gateway tests: posts whose authors are users of every provider, handed out
 * as references (`@key(..., resolvable: false)`) that a gateway resolves through the users subgraph's
 * `_entities`. Which posts, and by whom, is chosen by the query's arguments, so each test case states
 * the shape it needs (how many posts, how many distinct authors, which authors the providers do not know).
 *
 * It also has what a company's own subgraph has: its own `User` entity and its own `Provider` enum
 * (`Post.createdBy`, `Post.source`), names the users subgraph must not take (its own are `ExternalUser`
 * and `ExternalUserProvider`). Every gateway test composes with them, so each proves the two coexist.
 */
export const POSTS_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])

  type Post @key(fields: "id") {
    id: ID!
    title: String!
    "The company's own user who created the post: this subgraph's \`User\`, not a provider's."
    createdBy: User!
    "Where the post was imported from: this subgraph's own \`Provider\` enum."
    source: Provider!
    "Nullable, like every reference below: a user a provider does not know nulls this field, not the post."
    author: XUser
    telegramAuthor: TelegramUser
    bitrixAuthor: Bitrix24User
    nexudusMember: NexudusUser
  }

  "A company's own user type, as most supergraphs already have one."
  type User @key(fields: "id") {
    id: ID!
    name: String!
  }

  "A company's own provider enum (sign-in providers), as a supergraph may already have one."
  enum Provider {
    GITHUB
    GOOGLE
  }

  type XUser @key(fields: "id", resolvable: false) {
    id: ID!
  }

  type TelegramUser @key(fields: "id", resolvable: false) {
    id: ID!
  }

  type Bitrix24User @key(fields: "portal id", resolvable: false) {
    portal: String!
    id: ID!
  }

  type NexudusUser @key(fields: "id", resolvable: false) {
    id: ID!
  }

  type Query {
    """
    \`count\` posts; post i (from 0) is by user \`from + i % authors\` of every provider (\`authors\`
    defaults to \`count\`), except that the posts at \`unknownAt\` are by users no provider knows.
    """
    posts(count: Int!, authors: Int, from: Int = 1, unknownAt: [Int!] = []): [Post!]!
  }
`;

/** Ids no demo provider knows (the demo knows 1–10000 everywhere). */
export const UNKNOWN = { x: '99999999', telegram: '20000', bitrix24: '99999', nexudus: '999999' } as const;

export interface PostRecord {
  id: string;
  title: string;
  /** The author's id at every provider: the same number, as the demo users are. */
  authorId: string;
  unknown: boolean;
  /** This subgraph's own `User` who created the post: `staff-1` or `staff-2`, in turn. */
  createdBy: StaffUser;
  /** This subgraph's own `Provider`: GITHUB, GOOGLE, in turn. */
  source: 'GITHUB' | 'GOOGLE';
}

/** A `User` of the posts subgraph (the company's own, not a provider's). */
export interface StaffUser {
  id: string;
  name: string;
}

/** The posts subgraph's own users, by id. */
export const STAFF: ReadonlyMap<string, StaffUser> = new Map(
  ['staff-1', 'staff-2'].map((id, i) => [id, { id, name: `Staff Member ${i + 1}` }]),
);

export interface PostsArgs {
  count: number;
  authors?: number | null;
  from?: number | null;
  unknownAt?: readonly number[] | null;
}

/** The posts `posts(...)` answers: what a test compares the gateway's data with. */
export function postsOf({ count, authors, from, unknownAt }: PostsArgs): PostRecord[] {
  const unknown = new Set(unknownAt ?? []);
  const distinct = authors ?? count;
  return Array.from({ length: count }, (_, i) => ({
    id: `p${i + 1}`,
    title: `Post ${i + 1}`,
    authorId: String((from ?? 1) + (i % distinct)),
    unknown: unknown.has(i),
    createdBy: STAFF.get(`staff-${(i % 2) + 1}`)!,
    source: i % 2 === 0 ? 'GITHUB' : 'GOOGLE',
  }));
}

export interface StartedSubgraph {
  server: ApolloServer;
  url: string;
}

/** Starts the posts subgraph on a free loopback port; `portal` is the Bitrix24 portal its authors belong to. */
export async function startPostsSubgraph(portal: string): Promise<StartedSubgraph> {
  const idOf = (post: PostRecord, provider: keyof typeof UNKNOWN) => (post.unknown ? UNKNOWN[provider] : post.authorId);
  const server = new ApolloServer({
    schema: buildSubgraphSchema({
      typeDefs: parse(POSTS_SDL),
      resolvers: {
        Query: { posts: (_: unknown, args: PostsArgs) => postsOf(args) },
        Post: {
          author: (post: PostRecord) => ({ __typename: 'XUser', id: idOf(post, 'x') }),
          telegramAuthor: (post: PostRecord) => ({ __typename: 'TelegramUser', id: idOf(post, 'telegram') }),
          bitrixAuthor: (post: PostRecord) => ({ __typename: 'Bitrix24User', portal, id: idOf(post, 'bitrix24') }),
          nexudusMember: (post: PostRecord) => ({ __typename: 'NexudusUser', id: idOf(post, 'nexudus') }),
          createdBy: (post: PostRecord) => post.createdBy,
          source: (post: PostRecord) => post.source,
        },
        User: { __resolveReference: ({ id }: { id: string }) => STAFF.get(id) ?? null },
      },
    }),
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: '127.0.0.1' } });
  return { server, url };
}
