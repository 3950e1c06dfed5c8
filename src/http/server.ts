import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { startGraphQL } from '../apollo.js';
import type { SharedLookups } from '../batching/shared-lookups.js';
import type { Config } from '../config.js';
import type { Runtime } from '../core/lookup.js';
import { requestContexts } from '../request/context-factory.js';
import { connectionsDropped } from '../telemetry/metrics.js';
import type { Circuits } from '../upstream/circuit.js';
import type { BudgetReading } from '../upstream/shared-state.js';
import { EventLoopLag } from './event-loop-lag.js';
import { graphqlHandler } from './graphql-handler.js';
import { InFlight } from './in-flight.js';
import { sendJson } from './io.js';
import { router } from './routes.js';
import { SocketDrain } from './socket-drain.js';

/**
 * The HTTP face of the subgraph, put together: the endpoints (`routes.ts`), `/graphql` through Apollo
 * (`graphql-handler.ts`), each GraphQL request under its signal and the drain (`in-flight.ts`), on a
 * plain `node:http` server.
 */
export interface RunningServer {
  url: string;
  httpServer: Server;
  /**
   * Drains: `/ready` answers 503 and new GraphQL requests are turned away while those in flight finish
   * (health checks are still answered); after `graceMs` what is left is cancelled. Then everything is
   * released. Resolves whether every request finished by itself.
   */
  close(graceMs?: number): Promise<{ drained: boolean }>;
}

/** What the server shares with every request beyond the clients (the app makes them; a test may leave them out). */
export interface Shared {
  circuits?: Circuits;
  /** The upstream windows of the server's own credentials, for `/ready`. */
  budgets?: () => Promise<BudgetReading[]>;
  shared?: SharedLookups;
}

/** How long a keep-alive socket must be quiet, once a drain starts, before it is closed (ms). */
const DRAIN_LINGER_MS = 100;

export async function startServer(
  config: Config,
  runtime: Runtime,
  logger: Logger,
  { circuits, budgets, shared }: Shared = {},
): Promise<RunningServer> {
  const { apollo, access } = await startGraphQL(config, logger);
  const inFlight = new InFlight(config.limits.timeoutMs);
  const lag = new EventLoopLag();
  const contexts = requestContexts({
    runtime,
    shared,
    access,
    credentialSources: config.providers,
    callerHeaders: config.callerHeaders,
    maxIdsPerProvider: config.limits.maxIdsPerProvider,
    logger,
  });
  const graphql = graphqlHandler({
    apollo,
    contexts,
    inFlight,
    maxRequestBytes: config.maxRequestBytes,
    maxResponseBytes: config.limits.maxResponseBytes,
    maxOperationsInFlight: config.maxOperationsInFlight,
    maxEventLoopDelayMs: config.maxEventLoopDelayMs,
    ...(config.maxEventLoopDelayMs > 0 ? { lag } : {}),
    logger,
  });
  const route = router({ config, graphql, inFlight, circuits, budgets, shared, logger });

  // Timeouts on the socket (docs/operations.md, "HTTP endpoints"): headers within HTTP_HEADERS_TIMEOUT_MS, the whole
  // request within that and OPERATION_TIMEOUT_MS (Node answers 408 past either; the handler cuts a slow
  // body at the operation's own deadline), idle keep-alive HTTP_KEEP_ALIVE_TIMEOUT_MS (65 s: above the 60 s
  // of common load balancers). A socket silent for longer than either, one that never sends a byte
  // included (Node's header timeout starts only with a first byte), is closed.
  const { headersTimeoutMs, keepAliveTimeoutMs } = config;
  const requestTimeout = headersTimeoutMs + config.limits.timeoutMs;
  const httpServer = createServer(
    { keepAliveTimeout: keepAliveTimeoutMs, headersTimeout: headersTimeoutMs, requestTimeout, connectionsCheckingInterval: 1_000 },
    (req, res) => {
      route(req, res).catch((error: unknown) => {
        logger.error({ err: error }, 'request handler failed');
        if (!res.headersSent) sendJson(res, 500, { errors: [{ message: 'Internal server error' }] });
        else res.destroy();
      });
    },
  );
  httpServer.timeout = Math.max(requestTimeout, keepAliveTimeoutMs + 1_000);
  // Past MAX_CONNECTIONS open, Node closes a new connection as it accepts it: a flood of sockets costs a
  // file descriptor each only up to there, and the connections already open (a gateway's pool) carry on.
  httpServer.maxConnections = config.maxConnections;
  httpServer.on('drop', () => connectionsDropped.inc());
  const sockets = new SocketDrain(httpServer);
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => resolve());
  });
  const address = httpServer.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;

  return {
    url,
    httpServer,
    async close(graceMs = 10_000) {
      const draining = inFlight.drain(graceMs);
      // Sockets kept alive between requests would hold the server open, but one closed at once may meet a
      // request its client was writing (a reset, no answer). A socket is closed once quiet for
      // DRAIN_LINGER_MS with nothing in progress (`SocketDrain`); what arrives on one before is answered
      // (503 SHUTTING_DOWN) with `Connection: close`, and the socket closes after that answer. New
      // connections are still taken while requests drain (a load balancer may not have seen /ready yet).
      const sweep = setInterval(() => sockets.closeQuiet(DRAIN_LINGER_MS), DRAIN_LINGER_MS / 4);
      try {
        const { drained } = await draining;
        // Then the listener, before the sockets: a connection refused sent nothing. What is still open is
        // quiet, closed within DRAIN_LINGER_MS; past twice that, whatever is left goes.
        const allClosed = sockets.stopAccepting();
        await Promise.race([allClosed, new Promise((resolve) => setTimeout(resolve, 2 * DRAIN_LINGER_MS))]);
        httpServer.closeAllConnections();
        await allClosed;
        await apollo.stop();
        lag.stop();
        return { drained };
      } finally {
        clearInterval(sweep);
      }
    },
  };
}
