import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTracingForTests, type Tracing } from '../src/telemetry/tracing.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * Tracing and logs through the real server (docs/operations.md, "Tracing and logs"): spans go to an in-memory
 * exporter through the telemetry module's test hook, one operation asks all four providers' emulators.
 */

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN_ID}-01`;
/** Ids no duration, count or status could contain by chance. */
const ID = '4242';
const MISSING = '98765432';
const QUERY = `query Lookup($x: [ID!]!) {
  xUsers(ids: $x) { id }
  telegramUsers(ids: ["${ID}"]) { id }
  bitrix24Users(ids: ["${ID}"]) { id }
  nexudusUsers(ids: ["${ID}"]) { id }
}`;

let exporter: InMemorySpanExporter;
let tracing: Tracing;
let h: Harness;
/** What no span and no log line may hold: every credential the emulators handed the subgraph, and the ids asked. */
let secrets: string[];

beforeAll(async () => {
  exporter = new InMemorySpanExporter();
  tracing = await startTracingForTests(exporter);
  h = await startHarness();
  const env = h.emulators.env as Record<string, string | undefined>;
  secrets = Object.entries(env)
    .filter(([name]) => /TOKEN|SECRET|PASSWORD|HASH/.test(name))
    .map(([, value]) => value!)
    .filter((value) => value.length >= 8);
  // A Bitrix24 webhook's path is its secret.
  if (env.BITRIX24_WEBHOOK_URL !== undefined) secrets.push(new URL(env.BITRIX24_WEBHOOK_URL).pathname.replace(/\/+$/, ''));
  expect(secrets.length).toBeGreaterThan(1);
});
afterAll(async () => {
  await h?.close();
  await tracing?.shutdown();
});
beforeEach(() => exporter.reset());

/** The operation's SERVER span and its CLIENT children, once the server ended it (after the answer was sent). */
async function spansOf(traceId: string): Promise<{ server: ReadableSpan; upstream: ReadableSpan[] }> {
  const server = await vi.waitFor(() => {
    const found = exporter.getFinishedSpans().find((span) => span.kind === SpanKind.SERVER && span.spanContext().traceId === traceId);
    if (found === undefined) throw new Error('no operation span yet');
    return found;
  });
  const upstream = exporter
    .getFinishedSpans()
    .filter((span) => span.kind === SpanKind.CLIENT && span.parentSpanContext?.spanId === server.spanContext().spanId);
  return { server, upstream };
}

/** The request's one `operation` line, once written. */
async function operationLine(requestId: string): Promise<{ raw: string; line: Record<string, any> }> {
  return vi.waitFor(() => {
    const raw = h.logs.find((text) => text.includes('"msg":"operation"') && JSON.parse(text).requestId === requestId);
    if (raw === undefined) throw new Error('no operation line yet');
    return { raw, line: JSON.parse(raw) };
  });
}

describe('traces', () => {
  it('one SERVER span per operation, a child of the gateway traceparent, with a CLIENT span per upstream call', async () => {
    const { status, body } = await h.gql(QUERY, { x: [ID, MISSING] }, { traceparent: TRACEPARENT, tracestate: 'gw=1' });
    expect(status).toBe(200);
    expect(body.data?.xUsers).toEqual([{ id: ID }, null]);

    const { server, upstream } = await spansOf(TRACE_ID);
    expect(server.name).toBe('Lookup');
    expect(server.parentSpanContext?.spanId).toBe(PARENT_SPAN_ID);
    expect(server.spanContext().traceState?.get('gw')).toBe('1');
    expect(server.attributes).toMatchObject({
      'graphql.operation.name': 'Lookup',
      'graphql.operation.type': 'query',
      'http.response.status_code': 200,
      'graphql.error.codes': ['NOT_FOUND'],
    });

    const byProvider = Object.fromEntries(
      upstream
        .filter((span) => span.attributes['upstream.ids_count'] !== undefined)
        .map((span) => [span.attributes['upstream.provider'], span]),
    );
    expect(Object.keys(byProvider).sort()).toEqual(['bitrix24', 'nexudus', 'telegram', 'x']);
    expect(byProvider.x!.name).toBe('x GET /2/users');
    expect(byProvider.x!.attributes).toMatchObject({
      'upstream.method': 'GET /2/users',
      'upstream.ids_count': 2,
      'upstream.attempts': 1,
      'upstream.status': '200',
      'http.request.method': 'GET',
      'http.response.status_code': 200,
      'server.address': '127.0.0.1',
    });
    expect(byProvider.telegram!.attributes).toMatchObject({
      'upstream.method': 'users.getUsers',
      'upstream.ids_count': 1,
      'upstream.attempts': 1,
      'upstream.status': '200',
    });
    expect(byProvider.bitrix24!.attributes).toMatchObject({
      'upstream.ids_count': 1,
      'upstream.status': '200',
      'http.request.method': 'POST',
    });
    expect(byProvider.nexudus!.attributes).toMatchObject({ 'upstream.method': 'GET /api/sys/users/', 'upstream.ids_count': 1 });
    for (const span of upstream) expect(span.spanContext().traceId).toBe(TRACE_ID);

    // Nothing recorded is an id, a credential, a variable or a URL's path.
    const recorded = JSON.stringify([server, ...upstream].map((span) => [span.name, span.attributes, span.events, span.status]));
    for (const text of [ID, MISSING, ...secrets]) expect(recorded).not.toContain(text);
    expect(recorded).not.toContain('http://');
  });

  it('an upstream failure: the span has the attempts, the last status and the error code', async () => {
    h.emulator('x').failNext(5, 503);
    await h.gql('query Failing { xUsers(ids: ["7"]) { id } }', undefined, { traceparent: `00-${'c'.repeat(32)}-${PARENT_SPAN_ID}-01` });
    const { server, upstream } = await spansOf('c'.repeat(32));
    expect(server.attributes['graphql.error.codes']).toEqual(['UPSTREAM_UNAVAILABLE']);
    const [x] = upstream;
    expect(upstream).toHaveLength(1);
    expect(x!.attributes).toMatchObject({
      'upstream.provider': 'x',
      'upstream.attempts': 3,
      'upstream.status': '503',
      'http.response.status_code': 503,
      'error.type': 'UPSTREAM_UNAVAILABLE',
    });
    expect(x!.status.code).toBe(2); // ERROR
    h.reset();
  });

  it('without a traceparent an operation starts its own trace; an anonymous one is named "anonymous"', async () => {
    await h.gql('{ xUsers(ids: ["8"]) { id } }', undefined, { 'x-request-id': 'no-parent' });
    const { line } = await operationLine('no-parent');
    const { server } = await spansOf(line.traceId);
    expect(server.name).toBe('anonymous');
    expect(server.parentSpanContext).toBeUndefined();
    expect(server.attributes['graphql.operation.name']).toBeUndefined();
  });
});

describe('logs', () => {
  it('one info line per operation: name, type, duration, status, upstream requests per provider, errors by code; no id or token', async () => {
    const { headers, status } = await fetchGql(QUERY, { x: [ID, MISSING] }, { 'x-request-id': 'gw-req-1', traceparent: TRACEPARENT });
    expect(status).toBe(200);
    expect(headers.get('x-request-id')).toBe('gw-req-1');
    const { raw, line } = await operationLine('gw-req-1');
    expect(line).toMatchObject({
      level: 30,
      msg: 'operation',
      requestId: 'gw-req-1',
      traceId: TRACE_ID,
      operationName: 'Lookup',
      operationType: 'query',
      status: 200,
      errors: { NOT_FOUND: 1 },
    });
    expect(line.durationMs).toBeGreaterThan(0);
    expect(line.upstream).toEqual({ x: 1, telegram: 1, bitrix24: 1, nexudus: 1 });
    // Its clock readings (time, pid, durationMs) may hold any digits, the id's included (a CI run's time did).
    const words = raw.replace(/"(time|pid|hostname|durationMs)":("[^"]*"|[\d.]+)/g, '');
    for (const text of [ID, MISSING, ...secrets]) expect(words).not.toContain(text);
    expect(h.logs.filter((text) => text.includes('"requestId":"gw-req-1"') && text.includes('"msg":"operation"'))).toHaveLength(1);
  });

  it('a request refused before it runs has its line too, with the refusal code and no upstream request', async () => {
    const { headers, status } = await fetchGql('{ xUsers(ids: ["1"]) { id }', undefined, { 'x-request-id': 'broken-doc' });
    expect(status).toBe(400);
    expect(headers.get('x-request-id')).toBe('broken-doc');
    const { line } = await operationLine('broken-doc');
    expect(line).toMatchObject({ operationName: null, status: 400, upstream: {}, errors: { GRAPHQL_PARSE_FAILED: 1 } });
  });

  it('an insane x-request-id is replaced by a new one, echoed and logged', async () => {
    for (const sent of ['x'.repeat(129), 'two words']) {
      const { headers } = await fetchGql('{ xUsers(ids: ["9"]) { id } }', undefined, { 'x-request-id': sent });
      const echoed = headers.get('x-request-id')!;
      expect(echoed).toMatch(/^[0-9a-f-]{36}$/);
      const { raw } = await operationLine(echoed);
      expect(raw).not.toContain(sent);
    }
  });

  it('a request without one gets one', async () => {
    const { headers } = await fetchGql('{ xUsers(ids: ["9"]) { id } }');
    const echoed = headers.get('x-request-id')!;
    expect(echoed).toMatch(/^[0-9a-f-]{36}$/);
    await operationLine(echoed);
  });
});

async function fetchGql(
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(`${h.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

describe('metrics', () => {
  /** The value of one sample of /metrics (0 when absent), e.g. `users_subgraph_graphql_requests_total{operation_type="query"}`. */
  async function sample(series: string): Promise<number> {
    const text = await (await fetch(`${h.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.slice(series.length + 1));
  }
  const REQUESTS = (type: string) => `users_subgraph_graphql_requests_total{operation_type="${type}"}`;
  const ERRORS = (type: string, code: string) => `users_subgraph_graphql_errors_total{operation_type="${type}",code="${code}"}`;
  const DURATIONS = (type: string) => `users_subgraph_graphql_request_duration_seconds_count{operation_type="${type}"}`;

  it('count requests, time them and count their errors by code, per operation type; a document that does not parse is "unknown"', async () => {
    const before = {
      queries: await sample(REQUESTS('query')),
      timed: await sample(DURATIONS('query')),
      notFound: await sample(ERRORS('query', 'NOT_FOUND')),
      unknown: await sample(REQUESTS('unknown')),
      parseFailed: await sample(ERRORS('unknown', 'GRAPHQL_PARSE_FAILED')),
    };
    await fetchGql(QUERY, { x: [ID, MISSING] });
    await fetchGql('{ xUsers(ids: ["1"]) { id }');
    await vi.waitFor(async () => {
      expect(await sample(REQUESTS('query'))).toBe(before.queries + 1);
      expect(await sample(DURATIONS('query'))).toBe(before.timed + 1);
      expect(await sample(ERRORS('query', 'NOT_FOUND'))).toBe(before.notFound + 1);
      expect(await sample(REQUESTS('unknown'))).toBe(before.unknown + 1);
      expect(await sample(ERRORS('unknown', 'GRAPHQL_PARSE_FAILED'))).toBe(before.parseFailed + 1);
    });
  });

  it("Node's default metrics keep their standard names, and the upstream window shows its limit beside what is left", async () => {
    await fetchGql('{ xUsers(ids: ["1"]) { id } }');
    const text = await (await fetch(`${h.url}/metrics`)).text();
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes /m);
    expect(text).not.toMatch(/^users_subgraph_process_/m);
    const limit = /^users_subgraph_upstream_budget_limit\{provider="x",method="([^"]+)"\} (\d+)$/m.exec(text);
    expect(limit, 'X window limit').not.toBeNull();
    const left = new RegExp(`^users_subgraph_upstream_budget_remaining\\{provider="x",method="${limit![1]}"\\} (\\d+)$`, 'm').exec(text);
    expect(Number(left![1])).toBeLessThan(Number(limit![2]));
  });
});
