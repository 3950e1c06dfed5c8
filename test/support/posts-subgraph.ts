import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { type DocumentNode, Kind, parse, visit } from 'graphql';

/**
 * A second subgraph for the gateway tests: posts whose authors are users of every provider, handed out
 * as references (`@key(..., resolvable: false)`) that a gateway resolves through the users subgraph's
 * `_entities`. Which posts, and by whom, is chosen by the query's arguments, so each test case states
 * the shape it needs (how many posts, how many distinct authors, which authors the providers do not know).
 */
export const POSTS_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])

  type Post @key(fields: "id") {
    id: ID!
    title: String!
    "Nullable, like every reference below: a user a provider does not know nulls this field, not the post."
    author: XUser
    telegramAuthor: TelegramUser
    bitrixAuthor: Bitrix24User
    nexudusMember: NexudusUser
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
}

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
        },
      },
    }),
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: '127.0.0.1' } });
  return { server, url };
}

/** `typeDefs` without `@authenticated` and `@requiresScopes` (applications and imports): what Apollo Gateway can load. */
export function withoutAccessDirectives(typeDefs: DocumentNode): DocumentNode {
  const access = new Set(['authenticated', 'requiresScopes']);
  return visit(typeDefs, {
    Directive: (node) => (access.has(node.name.value) ? null : undefined),
    Argument(node) {
      if (node.name.value !== 'import' || node.value.kind !== Kind.LIST) return undefined;
      const values = node.value.values.filter((v) => !(v.kind === Kind.STRING && access.has(v.value.slice(1))));
      return { ...node, value: { ...node.value, values } };
    },
  });
}
