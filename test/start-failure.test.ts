import { createServer, type Server } from 'node:net';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { providers } from '../src/providers/registry.js';
import { type OwnRedis, startOwnRedis } from '../src/testing/redis.js';

/**
 * A start that fails part-way (here: the port is taken) closes what it had started: the demo's
 * emulators, the providers' clients, and the Redis link, whose reconnect loop would otherwise keep an
 * embedding process (or a test run) alive. Redis's own count of connected clients shows the link.
 */

let own: OwnRedis;
let taken: Server;
let port: number;
let admin: Redis;

beforeAll(async () => {
  own = await startOwnRedis();
  admin = new Redis(own.url);
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  port = (taken.address() as { port: number }).port;
});
afterAll(async () => {
  admin.disconnect();
  await new Promise((resolve) => taken.close(resolve));
  await own.close();
});

async function clientsConnected(): Promise<number> {
  const info = await admin.info('clients');
  return Number(/connected_clients:(\d+)/.exec(info)![1]);
}

it('a start that fails once Redis is connected closes the Redis link again', async () => {
  const alone = await clientsConnected(); // this test's own connection
  const config = loadConfig(providers, { PORT: String(port), HOST: '127.0.0.1', REDIS_URL: own.url, NODE_ENV: 'production', DEMO: '1' });
  await expect(startApp(config, pino({ level: 'silent' }))).rejects.toThrow(/EADDRINUSE/);
  // The link's QUIT is answered before its close resolves; Redis counts the connection gone soon after.
  while ((await clientsConnected()) !== alone) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(await clientsConnected()).toBe(alone);
});
