import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../support/harness.js';
import { idsOf, xCalls } from '../support/x.js';

/**
 * A bound on operations in flight (issue 20, finding 4): beyond MAX_OPERATIONS_IN_FLIGHT a request is
 * turned away at once with 503 OVERLOADED and Retry-After, instead of queueing behind the others, and
 * `/health` answers all the while.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { MAX_OPERATIONS_IN_FLIGHT: '2' } });
});
afterAll(() => h.close());

it('past MAX_OPERATIONS_IN_FLIGHT, 503 OVERLOADED with Retry-After at once; /health never waits', async () => {
  // X answers slowly: the first operations are still in flight when the others arrive.
  h.emulator('x').failNext(5, { kind: 'slow', ms: 1_000 });
  const operations = Array.from({ length: 5 }, (_, i) =>
    fetch(`${h.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ xUsers(ids: ["${i + 1}"]) { id } }` }),
    }),
  );
  const refused: Response[] = [];
  const answered: Response[] = [];
  const health = await fetch(`${h.url}/health`);
  expect(health.status).toBe(200);
  for (const response of await Promise.all(operations)) (response.status === 503 ? refused : answered).push(response);
  expect(answered.map((response) => response.status)).toEqual([200, 200]);
  expect(refused).toHaveLength(3);
  for (const response of refused) {
    expect(response.headers.get('retry-after')).toBe('1');
    expect(((await response.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe('OVERLOADED');
  }
});

describe('MAX_EVENT_LOOP_DELAY_MS: a request read while the event loop runs late is turned away at once', () => {
  let busy: Harness;
  beforeAll(async () => {
    busy = await startHarness({ env: { MAX_EVENT_LOOP_DELAY_MS: '20' } });
  });
  afterAll(() => busy.close());

  it('503 OVERLOADED with Retry-After and the limit named; on time again, the same request is answered', async () => {
    const { port } = new URL(busy.url);
    const body = JSON.stringify({ query: '{ xUsers(ids: ["1"]) { id } }' });
    const request = `POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
    const send = async (holdMs: number) => {
      const socket = connect(Number(port), '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString('utf8');
      });
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.write(request);
      // The loop held busy past the limit while the request waits in the socket: the lag's timer runs
      // before the socket is read, in the same turn.
      const until = performance.now() + holdMs;
      while (performance.now() < until) {
        // busy, as a large operation's completion is
      }
      await closed;
      return text;
    };
    const refused = await send(100);
    expect(refused).toMatch(/^HTTP\/1\.1 503 /);
    expect(refused.toLowerCase()).toContain('retry-after: 1');
    expect(refused).toContain('"code":"OVERLOADED"');
    expect(refused).toContain('"limit":"MAX_EVENT_LOOP_DELAY_MS"');
    // Answered once the loop is on time again (a busy test machine may take a few of its 10 ms ticks).
    let answer = '';
    for (let tries = 0; tries < 100 && !answer.startsWith('HTTP/1.1 200 '); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      answer = await send(0);
    }
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
  });
});

describe('MAX_CONNECTIONS: a connection beyond is closed as it is accepted; those open carry on', () => {
  let capped: Harness;
  beforeAll(async () => {
    capped = await startHarness({ env: { MAX_CONNECTIONS: '3' } });
  });
  afterAll(() => capped.close());

  it('three open sockets that never send a byte, then a fourth: closed at once, counted; the first three still answer', async () => {
    const { port } = new URL(capped.url);
    const open = async () => {
      const socket = connect(Number(port), '127.0.0.1');
      socket.on('error', () => {});
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      return socket;
    };
    const held = [await open(), await open(), await open()];
    const extra = await open(); // the kernel completes it; the server closes it as it accepts it
    await new Promise<void>((resolve) => extra.once('close', () => resolve()));
    const request = 'GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';
    const answers = await Promise.all(
      held.map(
        (socket) =>
          new Promise<string>((resolve) => {
            let text = '';
            socket.on('data', (chunk) => {
              text += chunk.toString('utf8');
            });
            socket.once('close', () => resolve(text));
            socket.write(request);
          }),
      ),
    );
    for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    const metrics = await (await fetch(`${capped.url}/metrics`)).text();
    expect(Number(metrics.match(/^users_subgraph_connections_dropped_total (\d+)/m)?.[1])).toBeGreaterThanOrEqual(1);
  });
});

describe('MAX_RESULT_VALUES_IN_FLIGHT over HTTP: a large operation that would pass it is refused before it runs', () => {
  let values: Harness;
  beforeAll(async () => {
    // 100 values per operation at most, 150 in flight; operations of fewer than 10 are not counted.
    values = await startHarness({ env: { MAX_RESULT_VALUES_PER_OPERATION: '100', MAX_RESULT_VALUES_IN_FLIGHT: '150' } });
  });
  afterAll(() => values.close());

  const post = (ids: string[]) =>
    fetch(`${values.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'query ($ids: [ID!]!) { xUsers(ids: $ids) { id name } }', variables: { ids } }),
    });
  const ids = (from: number) => Array.from({ length: 50 }, (_, i) => String(from + i)); // 50 users × 2 fields: 100 values

  it('503 OVERLOADED with Retry-After and no upstream call while another holds the values; small ones pass; answered once it is done', async () => {
    values.emulator('x').failNext(1, { kind: 'slow', ms: 1_000 });
    const first = post(ids(1));
    while (xCalls(values).length < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    const refused = await post(ids(101));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    const body = (await refused.json()) as { errors: Array<{ extensions: Record<string, unknown> }> };
    expect(body.errors[0]!.extensions).toMatchObject({ code: 'OVERLOADED', limit: 'MAX_RESULT_VALUES_IN_FLIGHT', max: 150 });
    expect((await post(['201', '202'])).status).toBe(200); // 4 values: not counted
    expect(xCalls(values).map(idsOf)).toEqual([ids(1), ['201', '202']]); // nothing asked for the refused one
    expect((await first).status).toBe(200);
    expect((await post(ids(101))).status).toBe(200); // the values given back
  });
});
