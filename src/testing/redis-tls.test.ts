import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startOwnRedis } from './redis.js';
import { MISSING_OPENSSL, makeTestCertificates, type TestCertificates } from './redis-tls.js';

let certs: TestCertificates;

beforeAll(async () => {
  certs = await makeTestCertificates();
});

afterAll(async () => {
  await certs?.cleanup();
});

it('makes a CA and a certificate for 127.0.0.1 that it signed, the keys readable by their owner only', () => {
  const ca = new X509Certificate(readFileSync(certs.ca));
  const server = new X509Certificate(readFileSync(certs.cert));
  expect(ca.ca).toBe(true);
  expect(server.ca).toBe(false);
  expect(server.checkIssued(ca)).toBe(true);
  expect(server.verify(ca.publicKey)).toBe(true);
  expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
  expect(server.checkIP('127.0.0.2')).toBeUndefined();
  expect(server.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'])); // serverAuth, clientAuth
  expect(Date.parse(server.validTo)).toBeGreaterThan(Date.now() + 24 * 3600_000);
  expect(statSync(certs.key).mode & 0o077).toBe(0);
  for (const file of [certs.ca, certs.cert, certs.key]) expect(file.startsWith(`${certs.dir}/`)).toBe(true);
});

it('startOwnRedis({ tls }) serves TLS only: a client that trusts the CA is answered, one that does not is refused', async () => {
  const redis = await startOwnRedis({ tls: certs });
  const clients: Redis[] = [];
  /** The errors each client emitted: `connect()` itself rejects with "Connection is closed." only. */
  const errors = new Map<Redis, Array<{ code?: string }>>();
  const client = (url: string, tls?: { ca: Buffer }) => {
    const made = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2_000, tls });
    errors.set(made, []);
    made.on('error', (error: { code?: string }) => errors.get(made)!.push(error));
    clients.push(made);
    return made;
  };
  try {
    expect(redis.url).toBe(`rediss://127.0.0.1:${redis.port}`);
    const trusting = client(redis.url, { ca: readFileSync(certs.ca) });
    await trusting.connect();
    expect(await trusting.ping()).toBe('PONG');

    // The CA is no one's but this test's: Node's own roots do not know it.
    const untrusting = client(redis.url);
    await expect(untrusting.connect()).rejects.toThrow();
    expect(errors.get(untrusting)!.map((error) => error.code)).toEqual([
      expect.stringMatching(/^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/),
    ]);
    // No plaintext on the port: the server drops a client that does not start a handshake.
    const plain = client(`redis://127.0.0.1:${redis.port}`);
    await expect(plain.connect().then(() => plain.ping())).rejects.toThrow();
  } finally {
    for (const made of clients) made.disconnect();
    await redis.close();
  }
});

it('cleanup removes the dir, and is safe to call twice', async () => {
  const own = await makeTestCertificates();
  expect(existsSync(own.cert)).toBe(true);
  await own.cleanup();
  expect(existsSync(own.dir)).toBe(false);
  await own.cleanup();
});

it('a machine without openssl is told so, by name, and keeps no temp dir', async () => {
  const ours = () => readdirSync(tmpdir()).filter((name) => name.startsWith(`users-subgraph-tls-${process.pid}-`));
  const before = ours();
  await expect(makeTestCertificates({ command: 'openssl-that-is-not-installed' })).rejects.toThrow(MISSING_OPENSSL);
  expect(ours()).toEqual(before);
  expect(MISSING_OPENSSL).toMatch(/^openssl is not installed .*apt-get install openssl/);
});
