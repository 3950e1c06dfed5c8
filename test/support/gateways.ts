import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { composeServices } from '@apollo/composition';
import { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import type { Fetcher } from '@apollo/utils.fetcher';
import { createGatewayRuntime } from '@graphql-hive/gateway';
import { parse } from 'graphql';

/**
 * Both real gateways in front of the users subgraph and the posts subgraph, in process on loopback
 * ports, each composing from what the running subgraphs serve as `_service { sdl }`, as an adopter's
 * would: `@apollo/gateway` (Apollo Server with an `ApolloGateway` on `IntrospectAndCompose`) and Hive
 * Gateway (`createGatewayRuntime` on the supergraph `composeServices` makes of both SDLs, which is what
 * `rover supergraph compose` or Hive's registry does). Each forwards the callers' own credential headers
 * to the users subgraph (docs/access-control.md, "Per-caller credentials") and records every request it sends a subgraph,
 * with the subgraph's HTTP status, so a test sees exactly what reached the subgraph.
 */

/** The headers a caller's own credentials come in (the defaults of `X_CALLER_TOKEN_HEADER` and the Bitrix24 ones). */
export const CALLER_HEADERS = ['x-caller-x-token', 'x-caller-bitrix24-token', 'x-caller-bitrix24-portal'] as const;

/** One request a gateway sent a subgraph. */
export interface SubgraphCall {
  subgraph: 'users' | 'posts';
  headers: Record<string, string>;
  query: string;
  variables: Record<string, unknown>;
  /** The subgraph's HTTP status. */
  status: number;
  /** The subgraph's answer, as JSON. */
  body: { data?: any; errors?: Array<{ extensions?: Record<string, unknown> }>; extensions?: Record<string, unknown> };
}

export interface GatewayResult {
  status: number;
  body: {
    data?: any;
    errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, any> }>;
  };
}

export interface RunningGateway {
  name: 'apollo' | 'hive';
  url: string;
  /** Every request this gateway sent a subgraph since the last `reset()`. */
  calls: SubgraphCall[];
  /**
   * Apollo only: for each operation, whether the gateway received and decoded an inline trace (`ftv1`)
   * from the users subgraph for each of its fetches there (the query plan trace it builds for usage reporting).
   */
  traces: Array<{ usersFetches: number; withTrace: number }>;
  query(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GatewayResult>;
  reset(): void;
  close(): Promise<void>;
}

export interface Subgraphs {
  usersUrl: string;
  postsUrl: string;
}

/** What a running subgraph serves as `_service { sdl }`: what every composition reads. */
export async function fetchSubgraphSdl(url: string): Promise<string> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ _service { sdl } }' }),
  });
  const body = (await res.json()) as { data?: { _service?: { sdl?: string } }; errors?: unknown };
  const sdl = body.data?._service?.sdl;
  if (res.status !== 200 || typeof sdl !== 'string') {
    throw new Error(`${url} answered ${res.status} without _service { sdl }: ${JSON.stringify(body).slice(0, 500)}`);
  }
  return sdl;
}

/** The supergraph `composeServices` makes of both subgraphs' live SDL (as `rover supergraph compose` does); throws the composition errors. */
export async function composeSupergraph({ usersUrl, postsUrl }: Subgraphs): Promise<string> {
  const [users, posts] = await Promise.all([fetchSubgraphSdl(usersUrl), fetchSubgraphSdl(postsUrl)]);
  const composed = composeServices([
    { name: 'users', url: usersUrl, typeDefs: parse(users) },
    { name: 'posts', url: postsUrl, typeDefs: parse(posts) },
  ]);
  if (composed.errors !== undefined) {
    throw new Error(`composition failed:\n${composed.errors.map((e) => e.toString()).join('\n')}`);
  }
  return composed.supergraphSdl;
}

function subgraphOf(url: string, subgraphs: Subgraphs): 'users' | 'posts' {
  return url.startsWith(subgraphs.usersUrl) ? 'users' : 'posts';
}

function headersOf(init: { headers?: unknown } | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers((init?.headers ?? {}) as HeadersInit).forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

function parseBody(text: string): SubgraphCall['body'] {
  try {
    return JSON.parse(text) as SubgraphCall['body'];
  } catch {
    return {};
  }
}

function callerHeadersOf(headers: IncomingHttpHeaders | Pick<Headers, 'get'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of CALLER_HEADERS) {
    // Hive Gateway's Request has its own Headers class (@whatwg-node), not the global one.
    const value = typeof headers.get === 'function' ? (headers as Pick<Headers, 'get'>).get(name) : (headers as IncomingHttpHeaders)[name];
    // Absent stays absent: an empty header is refused by the subgraph.
    if (typeof value === 'string') out[name] = value;
  }
  return out;
}

async function post(url: string, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  let body: GatewayResult['body'];
  try {
    body = JSON.parse(text) as GatewayResult['body'];
  } catch {
    throw new Error(`the gateway answered ${res.status} with a body that is not JSON: ${text.slice(0, 500)}`);
  }
  return { status: res.status, body };
}

/**
 * `@apollo/gateway` behind Apollo Server, composing at start with `IntrospectAndCompose` from the live
 * subgraphs (their `_service { sdl }`, as served: no script in between). Rejects as Apollo Server's start
 * does when the gateway cannot load the supergraph.
 */
export async function startApolloGateway(subgraphs: Subgraphs): Promise<RunningGateway> {
  const calls: SubgraphCall[] = [];
  const traces: RunningGateway['traces'] = [];
  const recording: Fetcher = async (url, init) => {
    const response = await fetch(url, init as RequestInit);
    const text = await response.text();
    const sent = parseBody(typeof init?.body === 'string' ? init.body : '');
    calls.push({
      subgraph: subgraphOf(url, subgraphs),
      headers: headersOf(init),
      query: String((sent as { query?: string }).query ?? ''),
      variables: ((sent as { variables?: Record<string, unknown> }).variables ?? {}) as Record<string, unknown>,
      status: response.status,
      body: parseBody(text),
    });
    return new Response(text, { status: response.status, statusText: response.statusText, headers: response.headers }) as never;
  };

  // Asks every subgraph for inline traces, as usage reporting would, and keeps what the gateway made of them.
  const tracePlugin: ApolloServerPlugin<{ headers: IncomingHttpHeaders }> = {
    async requestDidStart(requestContext) {
      requestContext.metrics.captureTraces = true;
      return {
        async willSendResponse({ metrics }) {
          const fetches: Array<{ serviceName?: string; trace?: unknown }> = [];
          const walk = (node: any): void => {
            if (node === null || typeof node !== 'object') return;
            if (node.fetch) fetches.push(node.fetch);
            for (const value of Object.values(node)) if (typeof value === 'object') walk(value);
          };
          walk(metrics.queryPlanTrace);
          const users = fetches.filter((f) => f.serviceName === 'users');
          traces.push({ usersFetches: users.length, withTrace: users.filter((f) => f.trace != null).length });
        },
      };
    },
  };

  const gateway = new ApolloGateway({
    supergraphSdl: new IntrospectAndCompose({
      subgraphs: [
        { name: 'users', url: subgraphs.usersUrl },
        { name: 'posts', url: subgraphs.postsUrl },
      ],
    }),
    buildService: ({ name, url }) =>
      new RemoteGraphQLDataSource<{ headers: IncomingHttpHeaders }>({
        url,
        fetcher: recording,
        willSendRequest({ request, context }) {
          if (name !== 'users' || context.headers === undefined) return;
          for (const [header, value] of Object.entries(callerHeadersOf(context.headers))) request.http?.headers.set(header, value);
        },
      }),
  });
  const server = new ApolloServer<{ headers: IncomingHttpHeaders }>({ gateway, plugins: [tracePlugin] });
  const { url } = await startStandaloneServer(server, {
    listen: { port: 0, host: '127.0.0.1' },
    context: async ({ req }) => ({ headers: req.headers }),
  });
  return {
    name: 'apollo',
    url,
    calls,
    traces,
    query: (query, variables, headers) => post(url, query, variables, headers),
    reset() {
      calls.length = 0;
      traces.length = 0;
    },
    close: () => server.stop(),
  };
}

/** Hive Gateway (`createGatewayRuntime`) on the supergraph composed from both subgraphs' live SDL, served by node:http. */
export async function startHiveGateway(subgraphs: Subgraphs): Promise<RunningGateway> {
  const calls: SubgraphCall[] = [];
  const runtime = createGatewayRuntime({
    supergraph: await composeSupergraph(subgraphs),
    logging: false,
    propagateHeaders: {
      fromClientToSubgraphs: ({ request, subgraphName }) => (subgraphName === 'users' ? callerHeadersOf(request.headers) : {}),
    },
    plugins: () => [
      {
        onFetch({ url, options }) {
          return async ({ response, setResponse }) => {
            const text = await response.text();
            const sent = parseBody(typeof options.body === 'string' ? options.body : '');
            calls.push({
              subgraph: subgraphOf(url, subgraphs),
              headers: headersOf(options),
              query: String((sent as { query?: string }).query ?? ''),
              variables: ((sent as { variables?: Record<string, unknown> }).variables ?? {}) as Record<string, unknown>,
              status: response.status,
              body: parseBody(text),
            });
            setResponse(new Response(text, { status: response.status, statusText: response.statusText, headers: response.headers }));
          };
        },
      },
    ],
  });
  const server = createServer(runtime);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  return {
    name: 'hive',
    url,
    calls,
    traces: [],
    query: (query, variables, headers) => post(url, query, variables, headers),
    reset() {
      calls.length = 0;
    },
    async close() {
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      await runtime.dispose();
    },
  };
}
