import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { type Context, type Span, SpanStatusCode } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { graphqlDuration, graphqlErrors, graphqlRequests } from './metrics.js';
import { type AttemptStatus, runIn, startOperationSpan } from './tracing.js';

/**
 * What one GraphQL request leaves behind for whoever operates the subgraph (docs/operations.md, "Tracing and logs"):
 *
 * - a request id (the caller's `x-request-id` when it is sane, else a new UUID), echoed on the response;
 * - a child logger carrying the request id and the trace id, which the request's context logs with;
 * - its SERVER span when tracing is on;
 * - and, when it is answered, ONE `info` line: operation name and type, duration, HTTP status, the
 *   upstream requests sent for it per provider, and its errors counted by code. Never variables, ids or
 *   tokens: names, counts and codes only.
 */
export class OperationTelemetry {
  readonly requestId: string;
  /** The trace the request belongs to: its span's when tracing is on, else the caller's `traceparent`'s. */
  readonly traceId: string | undefined;
  readonly logger: Logger;
  private readonly span: Span | undefined;
  private readonly spanContext: Context | undefined;
  private readonly started = performance.now();
  private name: string | undefined;
  private type: string | undefined;
  private readonly upstream: Record<string, number> = {};
  private readonly errors: Record<string, number> = {};
  private finished = false;
  /** Writes the operation's line: the process logger without its redaction (`operationLineLogger`). */
  private readonly lineLogger: Logger;

  constructor(headers: IncomingHttpHeaders, logger: Logger) {
    this.requestId = requestIdFrom(headers['x-request-id']);
    const traced = startOperationSpan(headers);
    this.span = traced?.span;
    this.spanContext = traced?.context;
    this.traceId = traced?.span.spanContext().traceId ?? traceIdFrom(headers.traceparent);
    this.logger = logger.child(
      this.traceId === undefined ? { requestId: this.requestId } : { requestId: this.requestId, traceId: this.traceId },
    );
    this.lineLogger = operationLineLogger(logger);
  }

  /** Runs the request in its span's context (upstream spans are then its children); just runs it without tracing. */
  run<T>(fn: () => T): T {
    return runIn(this.spanContext, fn);
  }

  /** The operation, once known: its name (a GraphQL name, never free text) or `undefined` when anonymous. */
  noteOperation(name: string | undefined, type: string | undefined): void {
    this.name = name;
    this.type = type;
  }

  /** One request sent upstream for this operation (retries count again, as in /metrics). */
  noteUpstream(provider: string): void {
    this.upstream[provider] = (this.upstream[provider] ?? 0) + 1;
  }

  /** One error of the answer, by its `extensions.code`. */
  noteError(code: string): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
  }

  /** Ends the span and writes the request's one line; later calls do nothing. */
  finish(status: number): void {
    if (this.finished) return;
    this.finished = true;
    const elapsedMs = performance.now() - this.started;
    const durationMs = Math.round(elapsedMs * 10) / 10;
    const operationType = this.type ?? 'unknown';
    graphqlRequests.inc({ operation_type: operationType });
    graphqlDuration.observe({ operation_type: operationType }, elapsedMs / 1000);
    for (const [code, count] of Object.entries(this.errors))
      graphqlErrors.inc({ operation_type: operationType, code: metricCode(code) }, count);
    if (this.span !== undefined) {
      const { span } = this;
      span.updateName(this.name ?? 'anonymous');
      if (this.name !== undefined) span.setAttribute('graphql.operation.name', this.name);
      if (this.type !== undefined) span.setAttribute('graphql.operation.type', this.type);
      span.setAttribute('http.response.status_code', status);
      const codes = Object.keys(this.errors);
      if (codes.length > 0) span.setAttribute('graphql.error.codes', codes.sort());
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    // The request's own bindings first, as its child logger writes them.
    this.lineLogger.info(
      {
        requestId: this.requestId,
        ...(this.traceId === undefined ? {} : { traceId: this.traceId }),
        operationName: this.name ?? null,
        operationType: this.type ?? null,
        durationMs,
        status,
        upstream: this.upstream,
        errors: this.errors,
      },
      'operation',
    );
  }
}

/**
 * The logger of the operations' lines: `logger` without its redaction, made once per process logger. A line
 * holds names, counts, codes and the request's ids only (a request id is the caller's own, sanitized), so
 * there is nothing to redact, and redacting it cost more than writing it: 19 → 8 µs a line, measured, and
 * a quarter of what a `{ __typename }` operation allocated. Every other line keeps the redaction.
 */
function operationLineLogger(logger: Logger): Logger {
  let lines = lineLoggers.get(logger);
  if (lines === undefined) {
    lines = logger.child({}, { redact: [] });
    lineLoggers.set(logger, lines);
  }
  return lines;
}

const lineLoggers = new WeakMap<Logger, Logger>();

/**
 * An error code as a metric label: the codes are this server's and Apollo's own (upper snake case); anything
 * else (an exception's class name) is `OTHER`, so the label's values stay a short, fixed list.
 */
function metricCode(code: string): string {
  return /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : 'OTHER';
}

/** A caller's request id is kept when it is printable ASCII without spaces, 1–128 characters; else a new one. */
const SANE_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : randomUUID();
}

/**
 * The trace id of a W3C `traceparent` (`00-<trace id>-<parent id>-<flags>`), for the log lines of a
 * process that does not trace itself; `undefined` when there is none or it is not valid.
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(?:-.*)?$/;

export function traceIdFrom(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = TRACEPARENT.exec(header.trim());
  if (match === null || match[1] === 'ff') return undefined;
  // Version 00 has exactly four fields; all-zero ids are invalid.
  if (match[1] === '00' && header.trim().length !== 55) return undefined;
  if (/^0+$/.test(match[2]!) || /^0+$/.test(match[3]!)) return undefined;
  return match[2];
}

/**
 * Which operations wait for the upstream calls made under an abort signal. The batching layer makes
 * one signal per shared call and registers who waits for it (`watchUpstream`); the upstream layer, which
 * only knows the signal it was handed, reports each request it sends (`upstreamAttemptObserver`). So a
 * call shared by several operations counts in each of their lines, without an async context.
 */
export interface UpstreamWatch {
  /** Told of each request sent under the signal. */
  onRequest(provider: string): void;
  /** The operations still waiting for the call: their request ids, and trace ids where they have one. */
  waiting(): { requestIds: string[]; traceIds: string[] };
}

const watchers = new WeakMap<AbortSignal, UpstreamWatch>();

export function watchUpstream(signal: AbortSignal, watch: UpstreamWatch): void {
  watchers.set(signal, watch);
}

/** What the upstream layer tells of each request it sends under `signal` (see `traceUpstreamCall`). */
export function upstreamAttemptObserver(signal: AbortSignal | undefined, provider: string): ((status: AttemptStatus) => void) | undefined {
  const watch = signal === undefined ? undefined : watchers.get(signal);
  return watch === undefined ? undefined : () => watch.onRequest(provider);
}

/** At most this many ids of the operations a shared call serves are named in its log lines. */
const MAX_IDS_LOGGED = 20;

/**
 * The logger for the lines of an upstream call made under `signal` (retries, refusals, oversize bodies):
 * `logger` with the request ids (`requestIds`) and trace ids (`traceIds`) of the operations waiting for
 * it when it starts, a call being shared by every operation that asked for the same keys at about the
 * same moment. One child logger per upstream call (not per id, nor per request).
 */
export function upstreamLogger(signal: AbortSignal | undefined, logger: Logger): Logger {
  const watch = signal === undefined ? undefined : watchers.get(signal);
  if (watch === undefined) return logger;
  const { requestIds, traceIds } = watch.waiting();
  return logger.child({
    requestIds: requestIds.slice(0, MAX_IDS_LOGGED),
    ...(traceIds.length === 0 ? {} : { traceIds: [...new Set(traceIds)].slice(0, MAX_IDS_LOGGED) }),
  });
}
