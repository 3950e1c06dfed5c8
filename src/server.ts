import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer, HeaderMap, type HTTPGraphQLRequest } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginUsageReportingDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import type { Logger } from 'pino';
import { bugLogPlugin } from './bug-log-plugin.js';
import type { Config } from './config.js';
import { type Clients, RequestContext } from './context.js';
import { inputGuardPlugin } from './guard/input-guard.js';
import { fieldPlanPlugin } from './plan/plan-plugin.js';
import { providers } from './providers/registry.js';
import { buildSchema } from './schema.js';
import { registry } from './upstream/metrics.js';

/**
 * The HTTP face of the subgraph: `/graphql` (Apollo Server, CSRF prevention on), `/health`, `/ready`
 * and `/metrics`, on a plain `node:http` server. Apollo's framework-free entry point saves the work
 * of an express stack on every request, and the cache-control plugin (per-field hooks nobody here
 * reads) is off: both measured before this server was written (README, "Benchmark").
 */
export interface RunningServer {
  url: string;
  httpServer: Server;
  /** Stops taking requests, finishes those in flight, then releases everything. */
  close(): Promise<void>;
}

export async function startServer(config: Config, clients: Clients, logger: Logger): Promise<RunningServer> {
  const apollo = new ApolloServer<RequestContext>({
    schema: buildSchema(),
    introspection: config.introspection,
    csrfPrevention: true,
    includeStacktraceInErrorResponses: false,
    // `close()` below owns shutdown: it drains HTTP first, then stops Apollo; the app then closes upstream pools.
    stopOnTerminationSignals: false,
    logger,
    plugins: [
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
      ApolloServerPluginLandingPageLocalDefault({ embed: true, footer: false }),
      inputGuardPlugin(
        providers.flatMap((p) => p.idArguments),
        config.maxIdsPerOperation,
      ),
      fieldPlanPlugin(),
      bugLogPlugin(),
    ],
  });
  await apollo.start();

  let accepting = true;
  const httpServer = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    route(req, res).catch((error: unknown) => {
      logger.error({ err: error instanceof Error ? error.name : 'unknown' }, 'request handler failed');
      if (!res.headersSent) sendJson(res, 500, { errors: [{ message: 'Internal server error' }] });
      else res.destroy();
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0];
    switch (path) {
      case '/graphql':
      case '/':
        return graphql(req, res);
      case '/health':
        return sendJson(res, 200, { status: 'ok' });
      case '/ready':
        return accepting ? sendJson(res, 200, { status: 'ready' }) : sendJson(res, 503, { status: 'shutting down' });
      case '/metrics': {
        const text = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
        return;
      }
      default:
        return sendJson(res, 404, { error: 'not found' });
    }
  }

  async function graphql(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const headers = new HeaderMap();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    let body: unknown;
    if (req.method === 'POST') {
      const raw = await readBody(req, config.maxRequestBytes);
      if (raw === undefined) return sendJson(res, 413, { errors: [{ message: `Request body exceeds ${config.maxRequestBytes} bytes` }] });
      const contentType = headers.get('content-type') ?? '';
      if (contentType.includes('json')) {
        try {
          body = raw.length === 0 ? undefined : JSON.parse(raw);
        } catch {
          return sendJson(res, 400, { errors: [{ message: 'Request body is not valid JSON', extensions: { code: 'BAD_REQUEST' } }] });
        }
      } else {
        body = raw;
      }
    }
    const url = req.url ?? '/';
    const question = url.indexOf('?');
    const request: HTTPGraphQLRequest = {
      method: (req.method ?? 'GET').toUpperCase(),
      headers,
      search: question >= 0 ? url.slice(question) : '',
      body,
    };
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: request,
      context: async () => new RequestContext(clients, logger),
    });
    res.statusCode = response.status ?? 200;
    for (const [name, value] of response.headers) res.setHeader(name, value);
    if (response.body.kind === 'complete') {
      res.end(response.body.string);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  }

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
    async close() {
      accepting = false;
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeIdleConnections();
      // Requests in flight get a bounded time to finish; then their sockets are cut.
      const deadline = setTimeout(() => httpServer.closeAllConnections(), 10_000);
      await closed;
      clearTimeout(deadline);
      await apollo.stop();
    },
  };
}

function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
