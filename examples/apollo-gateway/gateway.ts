/**
 * An `@apollo/gateway` in front of the users subgraph (and any others), composing at start from what the
 * running subgraphs serve as `_service { sdl }` (`IntrospectAndCompose`): no rover, no GraphOS, no script
 * in between. The users subgraph's default (`AUTH_DIRECTIVES_IN_SDL` unset) is what makes that work:
 * `@apollo/gateway` refuses a supergraph with `@authenticated`/`@requiresScopes`, and the subgraph
 * enforces them itself (docs/supergraph.md).
 *
 *   USERS_SUBGRAPH_URL=http://localhost:4001/graphql node --import tsx examples/apollo-gateway/gateway.ts
 *
 * Environment:
 * - `SUBGRAPHS`: `name=url` pairs, comma-separated (`users=http://users:4001/graphql,posts=http://posts:4002/graphql`);
 *   or, without it, `USERS_SUBGRAPH_URL` (required) and `POSTS_SUBGRAPH_URL` (optional).
 * - `USERS_SUBGRAPH_NAME`: which subgraph is the users subgraph (default `users`).
 * - `PORT` (default 4000; 0 picks a free one) and `HOST` (default 0.0.0.0).
 * - `AUTH_SHARED_SECRET`, `AUTH_SHARED_SECRET_HEADER` (default `x-subgraph-secret`): the same variables as the
 *   subgraph's; when the secret is set, every request to the users subgraph carries it.
 *
 * Each caller's `authorization` goes to every subgraph (each verifies its own callers); the callers' own
 * upstream credentials (`x-caller-x-token`, `x-caller-bitrix24-token`, `x-caller-bitrix24-portal`) go to
 * the users subgraph only. A header the caller did not send is not sent: an empty one is refused.
 *
 * `IntrospectAndCompose` composes once, at start: restart the gateway when a subgraph's schema changes,
 * or compose a supergraph file in CI for production (docs/supergraph.md).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';

interface GatewayContext {
  headers: IncomingHttpHeaders;
}

/** The callers' own upstream credentials (the subgraph's default header names; docs/access-control.md, "Per-caller credentials"). */
const CALLER_HEADERS = ['x-caller-x-token', 'x-caller-bitrix24-token', 'x-caller-bitrix24-portal'];

/** A variable's value, trimmed; unset or blank is `undefined` (compose's `${VAR:-}` leaves it empty). */
function env(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** The subgraphs to compose, from `SUBGRAPHS` or `USERS_SUBGRAPH_URL`/`POSTS_SUBGRAPH_URL`. */
function subgraphsFromEnv(): Array<{ name: string; url: string }> {
  const list = env('SUBGRAPHS');
  if (list !== undefined) {
    return list.split(',').map((pair) => {
      const [name, url] = pair.split('=').map((part) => part.trim());
      if (!name || !url) throw new Error(`SUBGRAPHS: "${pair}" is not name=url`);
      return { name, url };
    });
  }
  const users = env('USERS_SUBGRAPH_URL');
  if (users === undefined) throw new Error('set USERS_SUBGRAPH_URL (and POSTS_SUBGRAPH_URL), or SUBGRAPHS=name=url,...');
  const posts = env('POSTS_SUBGRAPH_URL');
  return [{ name: 'users', url: users }, ...(posts === undefined ? [] : [{ name: 'posts', url: posts }])];
}

const usersSubgraph = env('USERS_SUBGRAPH_NAME') ?? 'users';
const secret = env('AUTH_SHARED_SECRET');
const secretHeader = (env('AUTH_SHARED_SECRET_HEADER') ?? 'x-subgraph-secret').toLowerCase();

const gateway = new ApolloGateway({
  supergraphSdl: new IntrospectAndCompose({ subgraphs: subgraphsFromEnv() }),
  buildService: ({ name, url }) =>
    new RemoteGraphQLDataSource<GatewayContext>({
      url,
      willSendRequest({ request, context }) {
        const users = name === usersSubgraph;
        // The secret proves the request came through this gateway; also while composing (no context then).
        if (users && secret !== undefined) request.http?.headers.set(secretHeader, secret);
        if (context?.headers === undefined) return;
        for (const header of users ? ['authorization', ...CALLER_HEADERS] : ['authorization']) {
          const value = context.headers[header];
          if (typeof value === 'string') request.http?.headers.set(header, value);
        }
      },
    }),
});

// Apollo Server's own signal handlers would re-raise the signal after stopping: these exit 0 instead.
const server = new ApolloServer<GatewayContext>({ gateway, stopOnTerminationSignals: false });

// Stop taking requests, finish those in flight, then exit: what a container's SIGTERM asks. Installed
// before the server starts, so a signal that comes as soon as it is ready is not missed.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}

const { url } = await startStandaloneServer(server, {
  listen: { port: Number(env('PORT') ?? 4000), host: env('HOST') ?? '0.0.0.0' },
  context: async ({ req }) => ({ headers: req.headers }),
});
console.log(`gateway ready at ${url}`);
