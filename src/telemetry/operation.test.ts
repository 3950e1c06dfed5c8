import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createLogger } from '../logger.js';
import { captureLogs } from '../testing/log-capture.js';
import { OperationTelemetry, requestIdFrom, traceIdFrom, upstreamAttemptObserver, upstreamLogger, watchUpstream } from './operation.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('requestIdFrom', () => {
  it('keeps a sane caller id: printable ASCII without spaces, 1–128 characters', () => {
    expect(requestIdFrom('req-42_a.b:c/d')).toBe('req-42_a.b:c/d');
    expect(requestIdFrom('x'.repeat(128))).toBe('x'.repeat(128));
  });

  it.each([undefined, '', 'x'.repeat(129), 'has space', 'tab\there', 'new\nline', 'ünicode', ['a', 'b']])(
    'replaces %j with a new UUID',
    (header) => {
      expect(requestIdFrom(header as string | string[] | undefined)).toMatch(UUID);
    },
  );
});

describe('traceIdFrom', () => {
  const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
  it.each([
    [`00-${trace}-00f067aa0ba902b7-01`, trace],
    [`00-${trace}-00f067aa0ba902b7-00`, trace],
    [`01-${trace}-00f067aa0ba902b7-01-future`, trace],
    [undefined, undefined],
    ['garbage', undefined],
    [`00-${trace}-00f067aa0ba902b7-01-extra`, undefined], // version 00 has exactly four fields
    [`ff-${trace}-00f067aa0ba902b7-01`, undefined],
    [`00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, undefined],
    [`00-${trace}-${'0'.repeat(16)}-01`, undefined],
    [`00-${trace.toUpperCase()}-00f067aa0ba902b7-01`, undefined],
  ])('%s → %s', (header, expected) => {
    expect(traceIdFrom(header)).toBe(expected);
  });
});

describe('OperationTelemetry', () => {
  it('writes one info line with the operation, duration, status, upstream requests per provider and errors by code', () => {
    const { logger, entries } = captureLogs('info');
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const telemetry = new OperationTelemetry({ 'x-request-id': 'gateway-7', traceparent: `00-${trace}-00f067aa0ba902b7-01` }, logger);
    telemetry.logger.warn('something on the way');
    telemetry.noteOperation('Users', 'query');
    telemetry.noteUpstream('x');
    telemetry.noteUpstream('x');
    telemetry.noteUpstream('telegram');
    telemetry.noteError('NOT_FOUND');
    telemetry.noteError('NOT_FOUND');
    telemetry.noteError('RATE_LIMITED');
    telemetry.finish(200);
    telemetry.finish(200); // once only
    const [warning, line, ...rest] = entries();
    expect(rest).toEqual([]);
    // Every line of the request carries its request id and trace id.
    expect(warning).toMatchObject({ requestId: 'gateway-7', traceId: trace, msg: 'something on the way' });
    expect(line).toMatchObject({
      level: 30,
      requestId: 'gateway-7',
      traceId: trace,
      msg: 'operation',
      operationName: 'Users',
      operationType: 'query',
      status: 200,
      upstream: { x: 2, telegram: 1 },
      errors: { NOT_FOUND: 2, RATE_LIMITED: 1 },
    });
    expect(line!.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('an anonymous operation without traceparent: a new request id, no trace id, null name', () => {
    const { logger, entries } = captureLogs('info');
    const telemetry = new OperationTelemetry({}, logger);
    telemetry.finish(400);
    const [line] = entries();
    expect(line!.requestId).toMatch(UUID);
    expect(line!.requestId).toBe(telemetry.requestId);
    expect('traceId' in line!).toBe(false);
    expect(line).toMatchObject({ operationName: null, operationType: null, status: 400, upstream: {}, errors: {} });
  });
});

describe('OperationTelemetry on the process logger', () => {
  /** The process logger (`createLogger`, redacting) at `level`, writing to a temp file read back as entries. */
  function processLogger(level: string) {
    const dir = mkdtempSync(join(tmpdir(), 'operation-log-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'log');
    const logger = createLogger(level, openSync(file, 'w'));
    const entries = () =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    return { logger, entries };
  }

  it("writes the operation's line as the request's logger would, while the request's other lines keep the redaction", () => {
    const { logger, entries } = processLogger('info');
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const telemetry = new OperationTelemetry({ 'x-request-id': 'gateway-7', traceparent: `00-${trace}-00f067aa0ba902b7-01` }, logger);
    telemetry.logger.warn({ authorization: 'Bearer s3cret', upstream: { token: 't0ken' } }, 'logged whole by mistake');
    telemetry.noteOperation('Users', 'query');
    telemetry.noteUpstream('x');
    telemetry.finish(200);
    const [warning, line, ...rest] = entries();
    expect(rest).toEqual([]);
    expect(warning).toMatchObject({
      authorization: '[redacted]',
      upstream: { token: '[redacted]' },
      requestId: 'gateway-7',
      traceId: trace,
    });
    // The same line as before it skipped the redaction: the process's bindings, then the request's, then its own.
    expect(Object.keys(line!)).toEqual([
      'level',
      'time',
      'service',
      'requestId',
      'traceId',
      'operationName',
      'operationType',
      'durationMs',
      'status',
      'upstream',
      'errors',
      'msg',
    ]);
    expect(line).toMatchObject({ service: 'users-subgraph', requestId: 'gateway-7', traceId: trace, upstream: { x: 1 }, msg: 'operation' });
  });

  it('writes no operation line below its level, and one per request, whatever the number of requests', () => {
    const quiet = processLogger('warn');
    new OperationTelemetry({}, quiet.logger).finish(200);
    expect(quiet.entries()).toEqual([]);
    const { logger, entries } = processLogger('info');
    for (let i = 0; i < 3; i++) new OperationTelemetry({ 'x-request-id': `r${i}` }, logger).finish(200);
    expect(entries().map((entry) => entry.requestId)).toEqual(['r0', 'r1', 'r2']);
  });
});

describe('upstream requests by signal', () => {
  it('a request sent under a watched signal is told to its watcher; other signals and none are ignored', () => {
    const seen: string[] = [];
    const watched = new AbortController().signal;
    watchUpstream(watched, { onRequest: (provider) => seen.push(provider), waiting: () => ({ requestIds: [], traceIds: [] }) });
    upstreamAttemptObserver(watched, 'nexudus')?.(200);
    upstreamAttemptObserver(watched, 'nexudus')?.('error');
    expect(upstreamAttemptObserver(new AbortController().signal, 'x')).toBeUndefined();
    expect(upstreamAttemptObserver(undefined, 'x')).toBeUndefined();
    expect(seen).toEqual(['nexudus', 'nexudus']);
  });
});

describe('upstream log lines by signal', () => {
  it('name the request ids and trace ids of the operations waiting for the call; other signals log as they are', () => {
    const { logger, entries } = captureLogs('debug');
    const watched = new AbortController().signal;
    watchUpstream(watched, { onRequest: () => {}, waiting: () => ({ requestIds: ['r1', 'r2'], traceIds: ['t1', 't1'] }) });
    upstreamLogger(watched, logger).warn({ method: 'GET /2/users' }, 'retrying upstream call');
    upstreamLogger(new AbortController().signal, logger).warn('unwatched');
    expect(entries()).toEqual([
      expect.objectContaining({ msg: 'retrying upstream call', requestIds: ['r1', 'r2'], traceIds: ['t1'] }),
      expect.not.objectContaining({ requestIds: expect.anything() }),
    ]);
  });
});
