/**
 * Hive Gateway in front of the users subgraph (and any others), serving a supergraph file:
 *
 *   rover supergraph compose --config ../router/supergraph.yaml > supergraph.graphql   # or mesh-compose
 *   npx hive-gateway supergraph supergraph.graphql                                       # finds this file in its folder
 *
 * Compose from the running subgraphs' `_service { sdl }` with the users subgraph's default
 * (`AUTH_DIRECTIVES_IN_SDL` unset): Hive Gateway does not enforce `@authenticated`/`@requiresScopes`, and the
 * subgraph enforces them itself either way (docs/supergraph.md). The users subgraph must be named `users`
 * in the composition (or set `USERS_SUBGRAPH_NAME`).
 *
 * Each caller's `authorization` goes to every subgraph (each verifies its own callers); the callers' own
 * upstream credentials go to the users subgraph only, with the shared secret when `AUTH_SHARED_SECRET` is
 * set (the subgraph's variables: `AUTH_SHARED_SECRET_HEADER`, default `x-subgraph-secret`). A header the
 * caller did not send is not sent: an empty one is refused.
 */
import { defineConfig } from '@graphql-hive/gateway';

/** The callers' own upstream credentials (the subgraph's default header names; docs/access-control.md, "Per-caller credentials"). */
const CALLER_HEADERS = ['x-caller-x-token', 'x-caller-bitrix24-token', 'x-caller-bitrix24-portal'];

/** A variable's value, trimmed; unset or blank is `undefined`. */
function env(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

const usersSubgraph = env('USERS_SUBGRAPH_NAME') ?? 'users';
const secret = env('AUTH_SHARED_SECRET');
const secretHeader = (env('AUTH_SHARED_SECRET_HEADER') ?? 'x-subgraph-secret').toLowerCase();

export const gatewayConfig = defineConfig({
  // What `hive-gateway supergraph` serves when no path is given on its command line.
  supergraph: env('SUPERGRAPH') ?? 'supergraph.graphql',
  propagateHeaders: {
    fromClientToSubgraphs({ request, subgraphName }) {
      const users = subgraphName === usersSubgraph;
      const headers: Record<string, string> = {};
      for (const name of users ? ['authorization', ...CALLER_HEADERS] : ['authorization']) {
        const value = request.headers.get(name);
        if (value !== null) headers[name] = value;
      }
      if (users && secret !== undefined) headers[secretHeader] = secret;
      return headers;
    },
  },
});
