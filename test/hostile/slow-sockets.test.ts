import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Harness, startHarness } from '../support/harness.js';

/**
 * Slow bodies and idle sockets (issue 20, finding 5): a request that sends its headers and `{"query":`
 * then waits stayed in flight for more than 80 s, and sockets that never sent a byte stayed open for
 * good. The operation's deadline now covers reading the body (408), and a socket silent for longer than a
 * request may take is closed. Short limits here; the defaults are in the README.
 */
let h: Harness;
let port: number;
beforeAll(async () => {
  h = await startHarness({ env: { OPERATION_TIMEOUT_MS: '300', HTTP_HEADERS_TIMEOUT_MS: '200', HTTP_KEEP_ALIVE_TIMEOUT_MS: '1000' } });
  port = Number(new URL(h.url).port);
});
afterAll(() => h.close());

/** A raw connection, its bytes as they come, and when it closes. */
function rawSocket(): { socket: Socket; received: () => string; closed: Promise<void> } {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (chunk) => {
    text += chunk.toString('utf8');
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => text, closed };
}

it('a body that stops halfway is answered 408 REQUEST_TIMEOUT at the operation deadline, and its connection closed', async () => {
  const { socket, received, closed } = rawSocket();
  socket.write('POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"query":');
  await closed;
  expect(received()).toMatch(/^HTTP\/1\.1 408 /);
  expect(received()).toContain('REQUEST_TIMEOUT');
  // Nothing of it is left in flight.
  const metrics = await (await fetch(`${h.url}/metrics`)).text();
  expect(metrics).toMatch(/^users_subgraph_operations_in_flight 0$/m);
}, 10_000);

it('a socket that never sends a byte is closed (Node answers it 408 at the header timeout)', async () => {
  const { closed, received } = rawSocket();
  await closed;
  expect(received() === '' || received().startsWith('HTTP/1.1 408 ')).toBe(true);
}, 10_000);

it('a request whose headers never end is answered 408 by the server', async () => {
  const { socket, received, closed } = rawSocket();
  socket.write('POST /graphql HTTP/1.1\r\nHost: localhost\r\n');
  await closed;
  expect(received()).toMatch(/^HTTP\/1\.1 408 /);
}, 10_000);
