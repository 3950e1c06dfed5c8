import { connect } from 'node:net';
import { expect, it } from 'vitest';
import { startHarness } from './support/harness.js';

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
