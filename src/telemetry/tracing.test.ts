import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { startOperationSpan, startTracingForTests, type Tracing, traceUpstreamCall, tracingOn, tracingRequested } from './tracing.js';

describe('tracingRequested: the standard OTEL_* variables', () => {
  it.each([
    [{}, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true],
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, true],
    [{ OTEL_TRACES_EXPORTER: 'console, OTLP' }, true],
    [{ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, false],
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, false],
    [{ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' }, false],
    [{ OTEL_SDK_DISABLED: 'TRUE', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, false],
    [{ OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }, false],
  ] as Array<[Record<string, string>, boolean]>)('%j: %s', (env, on) => {
    expect(tracingRequested(env)).toBe(on);
  });
});

describe('without an SDK', () => {
  it('nothing is recorded and the upstream helper hands back the call itself', async () => {
    expect(tracingOn()).toBe(false);
    expect(startOperationSpan({ traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` })).toBeUndefined();
    const statuses: unknown[] = [];
    const pending = Promise.resolve('ok');
    const result = traceUpstreamCall(
      { provider: 'x', method: 'GET /2/users' },
      (status) => statuses.push(status),
      (sent) => {
        sent(200);
        return pending;
      },
    );
    expect(result).toBe(pending); // no wrapper, no span
    await result;
    expect(statuses).toEqual([200]);
  });
});

describe('with the test hook', () => {
  let tracing: Tracing | undefined;
  afterEach(async () => {
    await tracing?.shutdown();
    tracing = undefined;
  });

  it('an operation span continues the caller traceparent; an upstream span under it carries counts and codes, no secrets', async () => {
    const exporter = new InMemorySpanExporter();
    tracing = await startTracingForTests(exporter);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    const operation = startOperationSpan({ traceparent: `00-${traceId}-${parentId}-01`, tracestate: 'vendor=x' })!;
    expect(operation.span.spanContext().traceId).toBe(traceId);
    await context.with(operation.context, async () => {
      await traceUpstreamCall(
        { provider: 'x', method: 'GET /2/users', ids: 3, host: 'api.x.com', httpMethod: 'GET' },
        undefined,
        async (sent) => {
          sent(503);
          sent(200);
          return 'answer';
        },
      );
      const failed = traceUpstreamCall({ provider: 'telegram', method: 'users.getUsers', ids: 2 }, undefined, async (sent) => {
        sent(420);
        throw Object.assign(new Error('Telegram: rate limited'), { code: 'RATE_LIMITED' });
      });
      await expect(failed).rejects.toThrow('rate limited');
    });
    operation.span.end();

    const spans = exporter.getFinishedSpans();
    const server = spans.find((span) => span.name === 'anonymous')!;
    expect(server.parentSpanContext?.spanId).toBe(parentId);
    expect(server.spanContext().traceState?.get('vendor')).toBe('x');
    expect(server.resource.attributes['service.name']).toBe(process.env.OTEL_SERVICE_NAME ?? 'users-subgraph');
    const x = spans.find((span) => span.name === 'x GET /2/users')!;
    expect(x.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(x.attributes).toEqual({
      'upstream.provider': 'x',
      'upstream.method': 'GET /2/users',
      'upstream.ids_count': 3,
      'server.address': 'api.x.com',
      'http.request.method': 'GET',
      'upstream.attempts': 2,
      'upstream.status': '200',
      'http.response.status_code': 200,
    });
    const telegram = spans.find((span) => span.name === 'telegram users.getUsers')!;
    expect(telegram.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(telegram.attributes).toMatchObject({ 'upstream.attempts': 1, 'upstream.status': '420', 'error.type': 'RATE_LIMITED' });
    expect(telegram.attributes['http.response.status_code']).toBeUndefined();
    expect(telegram.status).toEqual({ code: 2, message: 'RATE_LIMITED' }); // ERROR, with the code, not the message
  });

  it('shutdown turns everything back into no-ops', async () => {
    tracing = await startTracingForTests(new InMemorySpanExporter());
    expect(tracingOn()).toBe(true);
    await tracing.shutdown();
    tracing = undefined;
    expect(tracingOn()).toBe(false);
    expect(trace.getActiveSpan()).toBeUndefined();
    expect(startOperationSpan({})).toBeUndefined();
  });
});
