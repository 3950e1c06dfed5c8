import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Harness, startHarness } from './support/harness.js';

/** What the log lines look like to whoever reads them (and to the tools that parse them). */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { UPSTREAM_MAX_ATTEMPTS: '2' } });
});
afterAll(() => h.close());

it('every line is JSON with each key once: the provider is named once, even by a child logger of the provider', async () => {
  h.emulator('x').failNext(5, 503);
  h.emulator('nexudus').failNext(5, 503);
  h.emulator('telegram').failNext(5, 500, 'RPC_CALL_FAIL');
  [...h.emulator('bitrix24').values()][0]!.failNext(5, 500);
  await h.gql(
    '{ xUsers(ids: ["1"]) { id } nexudusUsers(ids: ["1"]) { id } telegramUsers(ids: ["1"]) { id } bitrix24Users(ids: ["1"]) { id } }',
  );
  const providerLines = h.logs.filter((line) => line.includes('"provider":'));
  // Retries and failures of all four providers were logged...
  expect(new Set(providerLines.map((line) => JSON.parse(line).provider))).toEqual(new Set(['x', 'nexudus', 'telegram', 'bitrix24']));
  // ...and no line repeats a key (JSON.parse would keep only the last of two).
  for (const line of h.logs) {
    const keys = [...line.matchAll(/"([^"]+)":/g)].map((match) => match[1]);
    const topLevel = Object.keys(JSON.parse(line));
    for (const key of topLevel) expect(keys.filter((k) => k === key).length, `${key} in ${line}`).toBe(1);
  }
});

it('every line written for a request names it: its own lines by requestId, the upstream calls it waits on by requestIds (with the traces)', async () => {
  const requestId = 'req-logging-1';
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  h.logs.length = 0;
  h.emulator('x').failNext(5, 503);
  h.emulator('telegram').failNext(5, 500, 'RPC_CALL_FAIL');
  await h.gql('{ xUsers(ids: ["2"]) { id } telegramUsers(ids: ["2"]) { id } }', undefined, {
    'x-request-id': requestId,
    traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
  });
  const lines = h.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
  const upstream = lines.filter((line) => line.provider !== undefined);
  // Both providers' retries and failures were logged, each naming the request and its trace.
  expect(new Set(upstream.map((line) => line.provider))).toEqual(new Set(['x', 'telegram']));
  for (const line of upstream) expect(line).toMatchObject({ requestIds: [requestId], traceIds: [traceId] });
  for (const line of lines.filter((l) => l.provider === undefined && l.msg !== 'operation')) {
    expect(line).toMatchObject({ requestId, traceId });
  }
  expect(lines.find((line) => line.msg === 'operation')).toMatchObject({ requestId, traceId });
});
