import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ApolloServer, HeaderMap, type HTTPGraphQLRequest } from '@apollo/server';
import type { Logger } from 'pino';
import type { RequestContext } from '../request/context.js';
import type { IncomingRequest } from '../request/context-factory.js';
import { OperationTelemetry } from '../telemetry/operation.js';
import type { EventLoopLag } from './event-loop-lag.js';
import type { InFlight } from './in-flight.js';
import { readBody, sendJson, TIMED_OUT } from './io.js';

export interface GraphQLHandlerOptions {
  apollo: ApolloServer<RequestContext>;
  /** Each request's context (`src/request/context-factory.ts`). */
  contexts: (request: IncomingRequest) => Promise<RequestContext>;
  inFlight: InFlight;
  /** MAX_REQUEST_BYTES and MAX_RESPONSE_BYTES. */
  maxRequestBytes: number;
  maxResponseBytes: number;
  /** MAX_OPERATIONS_IN_FLIGHT. */
  maxOperationsInFlight: number;
  /** MAX_EVENT_LOOP_DELAY_MS (0: off), read from `lag`. */
  maxEventLoopDelayMs: number;
  lag?: EventLoopLag;
  logger: Logger;
}

/**
 * `/graphql` over plain `node:http`, through Apollo's framework-free entry point (the work of an express
 * stack saved on every request): the request's id, span and log line whatever answers it; refused while
 * draining; the body read up to MAX_REQUEST_BYTES; the operation run under its signal (`InFlight`); the
 * answer refused whole when it would exceed MAX_RESPONSE_BYTES.
 */
export function graphqlHandler(options: GraphQLHandlerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { apollo, contexts, inFlight, maxRequestBytes, maxResponseBytes, maxOperationsInFlight, maxEventLoopDelayMs, lag, logger } =
    options;
  const overloaded = (limit: string, max: number, message: string) => ({
    errors: [{ message, extensions: { code: 'OVERLOADED', limit, max } }],
  });

  async function answer(req: IncomingMessage, res: ServerResponse, signal: AbortSignal, telemetry: OperationTelemetry): Promise<void> {
    const headers = new HeaderMap();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    let body: unknown;
    if (req.method === 'POST') {
      const raw = await readBody(req, maxRequestBytes, [signal, inFlight.bodiesCut]);
      if (raw === TIMED_OUT && !signal.aborted) {
        // A shutdown started while this body was still arriving: it is not waited for.
        telemetry.noteError('SHUTTING_DOWN');
        res.setHeader('connection', 'close');
        return sendJson(res, 503, { errors: [{ message: 'The subgraph is shutting down', extensions: { code: 'SHUTTING_DOWN' } }] });
      }
      if (raw === TIMED_OUT) {
        telemetry.noteError('REQUEST_TIMEOUT');
        // The rest of a body that never came is not waited for: the connection goes with this answer.
        res.setHeader('connection', 'close');
        return sendJson(res, 408, {
          errors: [{ message: 'The request body did not arrive within OPERATION_TIMEOUT_MS', extensions: { code: 'REQUEST_TIMEOUT' } }],
        });
      }
      if (raw === undefined) {
        telemetry.noteError('REQUEST_TOO_LARGE');
        return sendJson(res, 413, {
          errors: [
            {
              message: `The request body exceeds ${maxRequestBytes} bytes (MAX_REQUEST_BYTES)`,
              extensions: { code: 'REQUEST_TOO_LARGE', limit: 'MAX_REQUEST_BYTES', max: maxRequestBytes },
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
      context: () => contexts({ headers, signal, telemetry }),
    });
    if (!inFlight.accepting) res.setHeader('connection', 'close'); // draining: no keep-alive past this answer
    res.statusCode = response.status ?? 200;
    for (const [name, value] of response.headers) res.setHeader(name, value);
    if (response.body.kind === 'complete') {
      // Encoded once, here: given the string, Node scans it for its length (flattening Apollo's concatenation,
      // a copy on the heap) and encodes it again on the socket (another); a Buffer's bytes live off the heap.
      const text = response.body.string;
      // UTF-8 takes at least a byte per UTF-16 unit: an answer that long is refused before it is encoded.
      const body = text.length > maxResponseBytes ? undefined : Buffer.from(text, 'utf8');
      if (body === undefined || body.length > maxResponseBytes) {
        telemetry.logger.warn({ maxResponseBytes }, 'answer too large; refused');
        telemetry.noteError('RESPONSE_TOO_LARGE');
        res.statusCode = 200;
        res.setHeader('cache-control', 'no-store'); // Apollo's hint was for the answer this error replaces
        res.end(responseTooLarge(maxResponseBytes));
        return;
      }
      res.setHeader('content-length', body.length);
      res.end(body);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  }

  return async (req, res) => {
    // The request's id (echoed), its span and its one log line (docs/operations.md, "Tracing and logs"), whatever answers it.
    const telemetry = new OperationTelemetry(req.headers, logger);
    res.setHeader('x-request-id', telemetry.requestId);
    let failed = false;
    try {
      await telemetry.run(async () => {
        if (!inFlight.accepting) {
          res.setHeader('connection', 'close');
          telemetry.noteError('SHUTTING_DOWN');
          return sendJson(res, 503, { errors: [{ message: 'The subgraph is shutting down', extensions: { code: 'SHUTTING_DOWN' } }] });
        }
        if (inFlight.size >= maxOperationsInFlight) {
          // Beyond the bound, a request is turned away at once rather than queued behind the others: the
          // process stays responsive (/health never waits), and the client or the gateway tries again.
          telemetry.noteError('OVERLOADED');
          return sendJson(
            res,
            503,
            overloaded(
              'MAX_OPERATIONS_IN_FLIGHT',
              maxOperationsInFlight,
              `More than ${maxOperationsInFlight} operations in flight (MAX_OPERATIONS_IN_FLIGHT): try again`,
            ),
            { 'retry-after': '1' },
          );
        }
        if (maxEventLoopDelayMs > 0 && lag !== undefined && lag.ms > maxEventLoopDelayMs) {
          // The work already taken keeps the loop behind: this one would wait behind it, and so would /health.
          telemetry.noteError('OVERLOADED');
          return sendJson(
            res,
            503,
            overloaded(
              'MAX_EVENT_LOOP_DELAY_MS',
              maxEventLoopDelayMs,
              `The subgraph is busy: its event loop runs more than ${maxEventLoopDelayMs} ms late (MAX_EVENT_LOOP_DELAY_MS): try again`,
            ),
            { 'retry-after': '1' },
          );
        }
        return inFlight.run(res, (signal) => answer(req, res, signal, telemetry));
      });
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      // A handler that threw is answered 500 by the router once this returns.
      telemetry.finish(failed && !res.headersSent ? 500 : res.statusCode);
    }
  };
}

/** Whether `text` is more than `maxBytes` of UTF-8, measured only when it could be. */
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
