import type { IncomingHttpHeaders } from 'node:http';
import {
  type Context,
  context,
  defaultTextMapGetter,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';

/**
 * OpenTelemetry traces (docs/operations.md, "Tracing and logs"): off unless the standard `OTEL_*` variables ask for
 * them. Only `@opentelemetry/api` is imported statically, and only for its types and no-op globals; the
 * SDK, the exporter and the propagator are loaded by dynamic import when tracing is on, so a process
 * without it loads none of them and pays one `tracer === undefined` check per operation and per upstream
 * call. No async context (AsyncLocalStorage) is enabled either: with it every promise of every request
 * would cost more, and only spans need it (the SDK's context manager is what parents an upstream span on
 * its operation's span across the batching layer's timers).
 *
 * What a span may carry is decided here and in `startUpstreamSpan`'s callers: names of operations,
 * providers, methods (the `label` of an upstream request, a template), counts, status codes and an
 * upstream's host. Never an id, a token, a variable or a full URL (a Bitrix24 webhook's path is a secret).
 */

/** Set while tracing is on: `undefined` makes every helper here a no-op. */
let tracer: Tracer | undefined;
let propagator: TextMapPropagator | undefined;

export interface Tracing {
  /** Exports what is buffered, then turns tracing off (the global API back to its no-ops). */
  shutdown(): Promise<void>;
}

/**
 * Whether the environment asks for traces, as the OpenTelemetry SDKs read it: `OTEL_SDK_DISABLED=true`
 * turns everything off; else `OTEL_TRACES_EXPORTER` names the exporters (`otlp` is the one supported
 * here, `none` none); unset, an OTLP endpoint (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_ENDPOINT`) turns tracing on. Nothing set: off (the SDKs' default would be on,
 * exporting to localhost:4318, which is no default for a service that did not ask).
 */
export function tracingRequested(env: Record<string, string | undefined>): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
  if (exporters.length > 0) return exporters.includes('otlp');
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
}

/**
 * Turns tracing on when `env` asks for it: spans go through a BatchSpanProcessor (`OTEL_BSP_*`) to the
 * OTLP/HTTP exporter, which reads its endpoint, headers and timeout from the `OTEL_EXPORTER_OTLP_*`
 * variables itself. `undefined` when tracing is off: then nothing was loaded.
 */
export async function startTracing(env: Record<string, string | undefined>, logger: Logger): Promise<Tracing | undefined> {
  if (!tracingRequested(env)) return undefined;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').toLowerCase();
  if (exporters.includes(',')) logger.warn('OTEL_TRACES_EXPORTER: only otlp is supported here; the others are ignored');
  const [{ BatchSpanProcessor }, { OTLPTraceExporter }] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
  ]);
  const tracing = await install(new BatchSpanProcessor(new OTLPTraceExporter()));
  // The endpoint is not logged: an OTLP URL may carry credentials.
  logger.info('tracing on: spans exported over OTLP/HTTP');
  return tracing;
}

/**
 * The test hook: the same setup with `exporter` behind a SimpleSpanProcessor (each span exported as it
 * ends), no environment and no network. `shutdown()` undoes it.
 */
export async function startTracingForTests(exporter: SpanExporter): Promise<Tracing> {
  const { SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  return install(new SimpleSpanProcessor(exporter));
}

async function install(processor: SpanProcessor): Promise<Tracing> {
  const [{ NodeTracerProvider }, { W3CTraceContextPropagator }, resources] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
  ]);
  // service.name: OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) when set, read by the env detector; else ours.
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ 'service.name': 'users-subgraph' }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  const w3c = new W3CTraceContextPropagator();
  // Registers an AsyncLocalStorage context manager (what parents spans across awaits and timers) and
  // W3C trace context (`traceparent`, `tracestate`) as the propagator, for this process's API users too.
  provider.register({ propagator: w3c });
  tracer = provider.getTracer('users-subgraph');
  propagator = w3c;
  return {
    async shutdown() {
      tracer = undefined;
      propagator = undefined;
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** Whether spans are being recorded (tracing started). */
export function tracingOn(): boolean {
  return tracer !== undefined;
}

/**
 * The SERVER span of one GraphQL request, a child of the caller's `traceparent` (and `tracestate`) when
 * it sent a valid one, and the context to run the request in so that its upstream spans are children of
 * it. Named "anonymous" until the operation is known (`nameOperationSpan`). `undefined` when tracing is off.
 */
export function startOperationSpan(headers: IncomingHttpHeaders): { span: Span; context: Context } | undefined {
  if (tracer === undefined || propagator === undefined) return undefined;
  const parent = propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
  const span = tracer.startSpan('anonymous', { kind: SpanKind.SERVER }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/** `fn` run in `ctx` (a span's context), or just run when there is none. */
export function runIn<T>(ctx: Context | undefined, fn: () => T): T {
  return ctx === undefined ? fn() : context.with(ctx, fn);
}

/** What an upstream span says of its call: nothing here may be an id, a token or a URL. */
export interface UpstreamCallInfo {
  /** The provider's name (`x`, `telegram`, …). */
  provider: string;
  /** The call's label: a method template such as `GET /2/users` or an RPC name such as `users.getUsers`. */
  method: string;
  /** How many ids the call asks for, when it asks for some. */
  ids?: number;
  /** The upstream's host name (never its path or query). */
  host?: string;
  /** GET, POST: for HTTP calls. */
  httpMethod?: string;
}

/**
 * The status of one attempt, as `users_subgraph_upstream_requests_total` labels it: the HTTP status (for
 * Telegram: 200, or the RPC error's code), `error` when no answer came, `aborted` when no one waited any more.
 */
export type AttemptStatus = number | 'error' | 'aborted';

/**
 * Runs one upstream call (every attempt of it, its retries and waits between them) under a CLIENT span,
 * a child of the active context's span (its operation's). `run` reports each attempt it sends through
 * `sent`; the span records how many were sent and the last one's status, and the error code the call
 * failed with. One span per call, not per attempt: the call is what an operation waited for, and its
 * attempts are an attribute (each attempt's status is also counted in /metrics).
 *
 * `onAttempt` is told of every attempt, tracing or not (the per-operation tally rides on it). Without
 * tracing this returns `run`'s own promise: no span, no wrapper.
 */
export function traceUpstreamCall<T>(
  info: UpstreamCallInfo,
  onAttempt: ((status: AttemptStatus) => void) | undefined,
  run: (sent: (status: AttemptStatus) => void) => Promise<T>,
): Promise<T> {
  if (tracer === undefined) return run(onAttempt ?? ignore);
  const span = tracer.startSpan(`${info.provider} ${info.method}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      'upstream.provider': info.provider,
      'upstream.method': info.method,
      ...(info.ids === undefined ? {} : { 'upstream.ids_count': info.ids }),
      ...(info.host === undefined ? {} : { 'server.address': info.host }),
      ...(info.httpMethod === undefined ? {} : { 'http.request.method': info.httpMethod }),
    },
  });
  let attempts = 0;
  let last: AttemptStatus | undefined;
  const sent = (status: AttemptStatus) => {
    attempts++;
    last = status;
    onAttempt?.(status);
  };
  const end = (error?: unknown) => {
    span.setAttribute('upstream.attempts', attempts);
    if (last !== undefined) {
      span.setAttribute('upstream.status', String(last));
      if (typeof last === 'number' && info.httpMethod !== undefined) span.setAttribute('http.response.status_code', last);
    }
    if (error !== undefined) {
      const code = errorCode(error);
      span.setAttribute('error.type', code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: code });
    }
    span.end();
  };
  return run(sent).then(
    (value) => {
      end();
      return value;
    },
    (error: unknown) => {
      end(error ?? 'unknown');
      throw error;
    },
  );
}

function ignore(): void {}

/** An error's code (a ProviderError's, a GraphQLError's), else its class name: never its message. */
export function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code ?? (error as { extensions?: { code?: unknown } }).extensions?.code;
    if (typeof code === 'string' && code !== '') return code;
    if (error instanceof Error) return error.name;
  }
  return 'unknown';
}
