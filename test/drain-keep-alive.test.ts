import { connect } from 'node:net';
import { Client } from 'undici';
import { expect, it } from 'vitest';
import { X_TEST_TOKEN } from '../src/providers/x/emulator/index.js';
import { startXEmulator } from '../src/providers/x/emulator/server.js';
import { startHarness } from './support/harness.js';
import { startSubgraphProcess } from './support/subgraph-process.js';

/**
 * Shutdown loses nothing (issue 20, finding 6): SIGTERM under keep-alive clients reset 13 requests that
 * were written on idle keep-alive sockets as the drain closed them. A request that arrives on an idle
 * keep-alive socket as the drain starts is answered (503 SHUTTING_DOWN, `Connection: close`), not reset.
 */
it('a request written on an idle keep-alive socket as the drain starts gets an answer, not a reset', async () => {
  const h = await startHarness();
  const socket = connect(Number(new URL(h.url).port), '127.0.0.1');
  let text = '';
  socket.on('data', (chunk) => {
    text += chunk.toString('utf8');
  });
  let reset = false;
  socket.on('error', () => {
    reset = true;
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const body = JSON.stringify({ query: '{ xUsers(ids: ["1"]) { id } }' });
  const post = `POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(post);
  // The first answer: the socket is now idle and kept alive.
  while (!text.includes('"xUsers"')) await new Promise((resolve) => setTimeout(resolve, 5));
  const closing = h.close();
  socket.write(post);
  await closed;
  await closing;
  expect(reset).toBe(false);
  const answers = text.split('HTTP/1.1 ').slice(1);
  expect(answers).toHaveLength(2);
  expect(answers[1]).toMatch(/^503 /);
  expect(answers[1]).toContain('SHUTTING_DOWN');
  expect(answers[1]!.toLowerCase()).toContain('connection: close');
});

/**
 * The same, as the issue measured it: a real process (the built server, SIGTERM), 30 keep-alive clients
 * asking in a loop. Every request written on a kept-alive socket gets an HTTP answer — 200 before the
 * drain, 503 SHUTTING_DOWN during it — and a client whose next connection is refused (the listener closed,
 * after the drain) stops: a refused connection sent nothing. Before: 13 to 30 requests on kept-alive
 * sockets got a reset and no answer.
 *
 * What is not asserted: a connection the kernel completed but the process never accepted when the listener
 * closes is reset by the kernel (its request, written at once, never reached the server): a client that
 * reconnects in a tight loop after every 503 can meet that, and no server can prevent it.
 */
it('SIGTERM under 30 keep-alive clients in a loop (a real process): no request written is left without an answer; exit 0', async () => {
  const x = await startXEmulator({ bearerToken: X_TEST_TOKEN });
  const subgraph = await startSubgraphProcess({ X_BEARER_TOKEN: X_TEST_TOKEN, X_API_BASE_URL: x.url });
  try {
    const counts = { ok: 0, shuttingDown: 0, noAnswer: 0, other: 0 };
    const lost: string[] = [];
    let resetOnNewConnection = 0;
    let stopped = false;
    const exited = new Promise<number | null>((resolve) => subgraph.child.once('exit', (code) => resolve(code)));
    let n = 0;
    const client = async () => {
      const keepAlive = new Client(subgraph.url, { keepAliveTimeout: 60_000, pipelining: 1 });
      // Whether the next request goes on a connection made since the last answer (not a kept-alive one).
      let fresh = true;
      keepAlive.on('connect', () => {
        fresh = true;
      });
      try {
        while (!stopped) {
          try {
            const res = await keepAlive.request({
              method: 'POST',
              path: '/graphql',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ query: '{ xUsers(ids: ["1"]) { id } }', variables: { n: n++ } }),
            });
            await res.body.text();
            fresh = false;
            if (res.statusCode === 200) counts.ok++;
            else if (res.statusCode === 503) counts.shuttingDown++;
            else counts.other++;
          } catch (error) {
            if ((error as { code?: string }).code === 'ECONNREFUSED') break;
            if (fresh) {
              resetOnNewConnection++;
              continue;
            }
            counts.noAnswer++;
            lost.push(`${(error as { code?: string }).code}: ${(error as Error).message}`);
          }
        }
      } finally {
        await keepAlive.destroy();
      }
    };
    const clients = Array.from({ length: 30 }, client);
    // Under load: every client has been answered a few times.
    while (counts.ok < 300) await new Promise((resolve) => setTimeout(resolve, 10));
    subgraph.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    stopped = true;
    await Promise.all(clients);
    expect(lost).toEqual([]);
    expect(counts.noAnswer).toBe(0);
    expect(counts.other).toBe(0);
    expect(resetOnNewConnection).toBeLessThanOrEqual(30);
  } finally {
    await subgraph.stop();
    await x.close();
  }
});

it('a body still arriving when a drain starts is answered 503 SHUTTING_DOWN at once: it holds the shutdown neither to its deadline nor to the grace period', async () => {
  // Deadline and grace a minute each: were the slow body waited for, this test would time out.
  const h = await startHarness({ env: { OPERATION_TIMEOUT_MS: '60000', SHUTDOWN_GRACE_MS: '60000' } });
  const socket = connect(Number(new URL(h.url).port), '127.0.0.1');
  let text = '';
  socket.on('data', (chunk) => {
    text += chunk.toString('utf8');
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write('POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"query":');
  // The request is in flight (its body being read) before the drain starts.
  while (Number((await (await fetch(`${h.url}/metrics`)).text()).match(/^users_subgraph_operations_in_flight (\d+)/m)?.[1] ?? 0) < 1) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await h.close();
  await closed;
  expect(text).toMatch(/^HTTP\/1\.1 503 /);
  expect(text).toContain('SHUTTING_DOWN');
});
