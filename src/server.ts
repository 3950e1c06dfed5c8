import { setMaxListeners } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeaderMap, type HTTPGraphQLRequest } from '@apollo/server';
import type { Logger } from 'pino';
import { startGraphQL } from './apollo.js';
import type { SharedLookups } from './batching/shared-lookups.js';
import { handleEvict } from './cache/evict-endpoint.js';
import type { Config } from './config.js';
import { RequestContext } from './context.js';
import { WorkAbandoned } from './core/errors.js';
import type { Runtime } from './core/lookup.js';
import { callerCredentialReader } from './credentials/read.js';
import { prefersHtml, serveGraphiQL } from './explorer/index.js';
import { readBody, sendJson } from './http-io.js';
import { OperationTelemetry } from './telemetry/operation.js';
import { errorCode } from './telemetry/tracing.js';
import type { Circuits } from './upstream/circuit.js';
import { operationsInFlight, registry } from './upstream/metrics.js';

/**
 * The HTTP face of the subgraph: `/graphql` (Apollo Server, CSRF prevention on; a browser's page is the
 * explorer, `src/explorer/`), `/health`, `/ready` and `/metrics`, on a plain `node:http` server: Apollo's
 * framework-free entry point saves the work of an express stack on every request.
 *
 * Each GraphQL request runs under an abort signal: its deadline (OPERATION_TIMEOUT_MS), its client
 * going away, or a shutdown that ran out of time ends the upstream work still queued or in flight for
 * it, so abandoned work does not run on at the upstream's expense.
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
  shared?: SharedLookups;
}

export async function startServer(
  config: Config,
  runtime: Runtime,
  logger: Logger,
  { circuits, shared }: Shared = {},
): Promise<RunningServer> {
  const { apollo, access } = await startGraphQL(config, logger);
  // The headers of callers' own credentials, for the configured providers that take them.
  const readCredentials = callerCredentialReader(config.callerHeaders, runtime, config.providers);

  let accepting = true;
  /** One controller per GraphQL request in progress: what a shutdown waits for, and cancels at its deadline. */
  const inFlight = new Set<AbortController>();
  let drainedOne: (() => void) | undefined;

  const httpServer = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    route(req, res).catch((error: unknown) => {
      logger.error({ err: error }, 'request handler failed');
      if (!res.headersSent) sendJson(res, 500, { errors: [{ message: 'Internal server error' }] });
      else res.destroy();
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0];
    switch (path) {
      case '/graphql':
      case '/':
        // A browser's page (README, "Explorer"): GraphiQL, or nothing when EXPLORER=off; Apollo serves Sandbox.
        if (config.explorer !== 'sandbox' && prefersHtml(req.method, req.headers.accept)) {
          return config.explorer === 'graphiql' ? serveGraphiQL(req, res) : sendJson(res, 404, { error: 'not found' });
        }
        return graphql(req, res);
      case '/health':
        return sendJson(res, 200, { status: 'ok' });
      case '/ready': {
        // A circuit that is open does not make the subgraph unready: its other providers still answer.
        const body = { status: accepting ? 'ready' : 'shutting down', circuits: circuits?.states() ?? [] };
        return sendJson(res, accepting ? 200 : 503, body);
      }
      case '/cache/evict':
        return handleEvict(req, res, { adminToken: config.sharing.adminToken, shared, providers: config.providers, logger });
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
    // The request's id (echoed), its span and its one log line (README, "Tracing and logs"), whatever answers it.
    const telemetry = new OperationTelemetry(req.headers, logger);
    res.setHeader('x-request-id', telemetry.requestId);
    let failed = false;
    try {
      await telemetry.run(() => serveGraphQL(req, res, telemetry));
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      // A handler that threw is answered 500 by `route` once this returns.
      telemetry.finish(failed && !res.headersSent ? 500 : res.statusCode);
    }
  }

  async function serveGraphQL(req: IncomingMessage, res: ServerResponse, telemetry: OperationTelemetry): Promise<void> {
    if (!accepting) {
      res.setHeader('connection', 'close');
      telemetry.noteError('SHUTTING_DOWN');
      return sendJson(res, 503, { errors: [{ message: 'The subgraph is shutting down', extensions: { code: 'SHUTTING_DOWN' } }] });
    }
    const controller = new AbortController();
    // Every upstream call the request has in flight listens to its signal: more than Node's warning threshold of 10.
    setMaxListeners(1_000, controller.signal);
    inFlight.add(controller);
    operationsInFlight.inc();
    const deadline = setTimeout(
      () =>
        controller.abort(
          new WorkAbandoned(
            'DEADLINE_EXCEEDED',
            `no answer within the operation's deadline of ${config.limits.timeoutMs} ms (OPERATION_TIMEOUT_MS)`,
          ),
        ),
      config.limits.timeoutMs,
    );
    const clientGone = () => {
      if (!res.writableFinished) controller.abort(new WorkAbandoned('UPSTREAM_UNAVAILABLE', 'the client went away'));
    };
    res.once('close', clientGone);
    try {
      await answer(req, res, controller.signal, telemetry);
    } finally {
      clearTimeout(deadline);
      res.off('close', clientGone);
      inFlight.delete(controller);
      operationsInFlight.dec();
      if (inFlight.size === 0) drainedOne?.();
    }
  }

  async function answer(req: IncomingMessage, res: ServerResponse, signal: AbortSignal, telemetry: OperationTelemetry): Promise<void> {
    const headers = new HeaderMap();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    let body: unknown;
    if (req.method === 'POST') {
      const raw = await readBody(req, config.maxRequestBytes);
      if (raw === undefined) {
        telemetry.noteError('REQUEST_TOO_LARGE');
        return sendJson(res, 413, {
          errors: [
            {
              message: `The request body exceeds ${config.maxRequestBytes} bytes (MAX_REQUEST_BYTES)`,
              extensions: { code: 'REQUEST_TOO_LARGE', limit: 'MAX_REQUEST_BYTES', max: config.maxRequestBytes },
            },
          ],
        });
      }
      const contentType = headers.get('content-type') ?? '';
      if (contentType.includes('json')) {
        try {
          body = raw.length === 0 ? undefined : JSON.parse(raw);
        } catch {
          telemetry.noteError('BAD_REQUEST');
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
      context: async () => {
        const context = new RequestContext(
          runtime,
          telemetry.logger,
          { signal, maxIdsPerProvider: config.limits.maxIdsPerProvider },
          shared,
        );
        context.telemetry = telemetry;
        try {
          // Bad credentials refuse the whole request here (401), before anything runs.
          context.caller = await access.identify(headers);
          // So do malformed or unusable credentials of the caller's own (README, "Per-caller credentials").
          context.credentials = readCredentials(headers);
        } catch (error) {
          // Apollo's plugins never see this answer: the request's log line counts its code here.
          telemetry.noteError(errorCode(error));
          throw error;
        }
        return context;
      },
    });
    if (!accepting) res.setHeader('connection', 'close'); // draining: no keep-alive past this answer
    res.statusCode = response.status ?? 200;
    for (const [name, value] of response.headers) res.setHeader(name, value);
    if (response.body.kind === 'complete') {
      const text = response.body.string;
      if (tooLarge(text, config.limits.maxResponseBytes)) {
        telemetry.logger.warn({ maxResponseBytes: config.limits.maxResponseBytes }, 'answer too large; refused');
        telemetry.noteError('RESPONSE_TOO_LARGE');
        res.statusCode = 200;
        res.setHeader('cache-control', 'no-store'); // Apollo's hint was for the answer this error replaces
        res.end(responseTooLarge(config.limits.maxResponseBytes));
        return;
      }
      res.end(text);
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
    async close(graceMs = 10_000) {
      accepting = false;
      // Sockets kept alive between requests would hold the server open: close them now.
      httpServer.closeIdleConnections();
      const finished = new Promise<void>((resolve) => {
        drainedOne = resolve;
        if (inFlight.size === 0) resolve();
      });
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), graceMs);
      });
      const drained = (await Promise.race([finished, graceOver])) !== 'late';
      clearTimeout(timer);
      if (!drained) {
        // Cancel what is left: its upstream work stops, and its clients get what was answered so far.
        for (const controller of inFlight) controller.abort(new WorkAbandoned('UPSTREAM_UNAVAILABLE', 'the subgraph is shutting down'));
        await Promise.race([finished, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
      }
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
      await apollo.stop();
      return { drained };
    },
  };
}

/** Whether `text` is more than `maxBytes` of UTF-8, measured only when it could be. */
function tooLarge(text: string, maxBytes: number): boolean {
  if (text.length * 3 <= maxBytes) return false; // UTF-8 takes at most 3 bytes per UTF-16 unit
  return Buffer.byteLength(text) > maxBytes;
}

function responseTooLarge(maxBytes: number): string {
  return JSON.stringify({
    errors: [
      {
        message: `The answer would exceed ${maxBytes} bytes (MAX_RESPONSE_BYTES): ask for fewer users or fields`,
        extensions: { code: 'RESPONSE_TOO_LARGE', limit: 'MAX_RESPONSE_BYTES', max: maxBytes },
      },
    ],
  });
}
