import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { X_TEST_TOKEN } from '../../src/providers/x/emulator/index.js';
import { startXEmulator, type XEmulator } from '../../src/providers/x/emulator/server.js';
import { keysUnder, type OwnRedis, startOwnRedis, uniquePrefix } from '../../src/testing/redis.js';
import { makeTestCertificates, type TestCertificates } from '../../src/testing/redis-tls.js';
import { type OwnCluster, startOwnCluster } from '../../src/testing/redis-topologies.js';
import { type SubgraphProcess, startSubgraphProcess } from '../support/subgraph-process.js';

/**
 * Redis over TLS as users run it (docs/sharing.md, "Cluster and Sentinel", on TLS): real subgraph processes in
 * front of one X emulator that counts what it is asked, on a redis-server of the test's own that serves TLS only,
 * with a certificate for 127.0.0.1 signed by a throwaway CA (src/testing/redis-tls.ts), and on a Cluster whose
 * nodes, bus and replication use TLS. The CA reaches a subgraph the way an operator gives a private CA, through
 * Node's `NODE_EXTRA_CA_CERTS`; without it the certificate is untrusted, and the subgraph must neither trust it
 * nor talk plaintext: it serves from memory, Redis down, and says why by code.
 */

const USERS = 'query ($ids: [ID!]!) { xUsers(ids: $ids) { id username name } }';
const IDS = Array.from({ length: 20 }, (_, i) => String(i + 1));
/** What Node calls a certificate chain it cannot verify (which one depends on the chain the server sends). */
const UNTRUSTED = /^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/;

let certs: TestCertificates;
let x: XEmulator;

beforeAll(async () => {
  certs = await makeTestCertificates();
  x = await startXEmulator({ bearerToken: X_TEST_TOKEN });
});

afterEach(() => x.reset());

afterAll(async () => {
  await x?.close();
  if (certs === undefined) return;
  await certs.cleanup();
  expect(existsSync(certs.dir)).toBe(false);
});

/** What a `describe` started: stopped and closed in its `afterAll`, replicas first. */
interface Started {
  replicas: SubgraphProcess[];
  admins: Array<Redis | Cluster>;
  servers: Array<OwnRedis | OwnCluster>;
}

function started(): Started {
  return { replicas: [], admins: [], servers: [] };
}

async function stopAll(what: Started): Promise<void> {
  await Promise.all(what.replicas.splice(0).map((replica) => replica.stop()));
  for (const admin of what.admins.splice(0)) admin.disconnect();
  await Promise.all(what.servers.splice(0).map((server) => server.close()));
}

/**
 * One subgraph process per environment of `envs` (each with the X emulator, X's cache on), started together; every
 * one that started is in `into` (stopped by its `afterAll`) even when another failed.
 */
async function replicas(into: Started, envs: Array<Record<string, string>>): Promise<SubgraphProcess[]> {
  const made = await Promise.allSettled(
    envs.map((env) =>
      startSubgraphProcess({ X_BEARER_TOKEN: X_TEST_TOKEN, X_API_BASE_URL: x.url, X_CACHE: '1', LOG_LEVEL: 'info', ...env }),
    ),
  );
  for (const result of made) if (result.status === 'fulfilled') into.replicas.push(result.value);
  const failed = made.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return made.map((result) => (result as PromiseFulfilledResult<SubgraphProcess>).value);
}

/** Resolves once `condition` holds, asking again as the event loop turns (the test's timeout ends a wait that never does). */
async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 25));
}

/** The value of `users_subgraph_redis_up` on `replica`'s /metrics. */
async function redisUp(replica: SubgraphProcess): Promise<number> {
  const match = /^users_subgraph_redis_up (\d+)$/m.exec(await replica.metrics());
  if (match === null) throw new Error('no users_subgraph_redis_up on /metrics');
  return Number(match[1]);
}

/** The calls X was asked for users. */
function userCalls(): number {
  return x.requests.filter((request) => request.path === '/2/users').length;
}

/** The JSON log lines of `replica` with message `msg`. */
function logged(replica: SubgraphProcess, msg: string): Array<Record<string, unknown>> {
  return replica.lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === msg);
}

/** A fetches IDS (one X call); B answers them from what A wrote to Redis, without a call. */
async function aThenB(a: SubgraphProcess, b: SubgraphProcess, admin: Redis | Cluster, prefix: string): Promise<void> {
  const first = await a.gql(USERS, { ids: IDS });
  expect(first.body.errors).toBeUndefined();
  expect(first.body.data.xUsers).toHaveLength(IDS.length);
  expect(userCalls()).toBe(1);
  // A writes its answers beside its answer: B is asked once all of them are there.
  await until(async () => (await keysUnder(admin, `${prefix}cache:`)).length === IDS.length);
  const second = await b.gql(USERS, { ids: IDS });
  expect(second.body).toEqual(first.body);
  expect(userCalls()).toBe(1);
}

/**
 * What a replica that does not trust the certificate does: it started (ready, `/ready` 200) without waiting for
 * Redis, said once why it does not use it (`reason` alone), and answers from its own memory, Redis down: IDS once
 * from X, then from its memory cache, nothing written to Redis. Resolves the `reason` it logged.
 */
async function failsClosed(c: SubgraphProcess, admin: Redis | Cluster, prefix: string): Promise<string> {
  const [line, ...more] = logged(c, 'Redis unreachable at start: serving from memory, retrying');
  expect(more).toEqual([]);
  expect(line).toMatchObject({ level: 40, component: 'redis', reason: expect.any(String) });
  // The code and nothing else: no URL, no message, no error object.
  expect(Object.keys(line!).sort()).toEqual(['component', 'level', 'msg', 'reason', 'service', 'time']);
  expect(logged(c, 'Redis connected: cache, budgets and tokens shared with every replica')).toEqual([]);
  expect(await redisUp(c)).toBe(0);
  expect((await fetch(`${c.url}/ready`)).status).toBe(200);

  const first = await c.gql(USERS, { ids: IDS });
  expect(first.body.errors).toBeUndefined();
  expect(first.body.data.xUsers).toHaveLength(IDS.length);
  const again = await c.gql(USERS, { ids: IDS });
  expect(again.body).toEqual(first.body);
  expect(userCalls()).toBe(1);
  expect(await keysUnder(admin, prefix)).toEqual([]);
  expect(await c.metrics()).toMatch(/^users_subgraph_redis_fallbacks_total\{use="record-cache",reason="down"\} [1-9]/m);
  // Still down (never trusting the certificate), still that one line.
  expect(await redisUp(c)).toBe(0);
  expect(c.output().match(/Redis unreachable/g)).toHaveLength(1);
  return String(line!.reason);
}

/** Asserts that `secret` is in no line `replica` wrote, as is or URL-encoded, nor a `rediss://` URL. */
function saysNothingOf(replica: SubgraphProcess, secret: string): void {
  expect(replica.lines.length).toBeGreaterThan(3);
  expect(replica.output()).not.toContain(secret);
  expect(replica.output()).not.toContain(encodeURIComponent(secret));
  expect(replica.output()).not.toContain('rediss://');
}

describe('one node over TLS (REDIS_URL=rediss://:<password>@127.0.0.1:<port>)', () => {
  const own = started();
  // The password is in the URL; each run's is new, so that a line holding it cannot be a coincidence.
  const password = `tls-${randomUUID()}`;
  let redis: OwnRedis;
  let admin: Redis;
  /** A and B trust the CA; C does not. */
  let a: SubgraphProcess;
  let b: SubgraphProcess;
  let c: SubgraphProcess;
  const prefix = uniquePrefix('tls');
  const untrustedPrefix = uniquePrefix('tls-untrusted');

  beforeAll(async () => {
    // TLS only (`--port 0 --tls-port <port>`), a password required.
    redis = await startOwnRedis({ tls: certs, password });
    own.servers.push(redis);
    admin = new Redis(redis.url, { tls: { ca: readFileSync(certs.ca) }, maxRetriesPerRequest: 1 });
    own.admins.push(admin);
    // Debug: the most a replica ever says about its link.
    const trusted = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, NODE_EXTRA_CA_CERTS: certs.ca, LOG_LEVEL: 'debug' };
    const untrusted = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: untrustedPrefix, LOG_LEVEL: 'debug' };
    [a, b, c] = (await replicas(own, [trusted, trusted, untrusted])) as [SubgraphProcess, SubgraphProcess, SubgraphProcess];
  }, 60_000);

  afterAll(() => stopAll(own));

  it('with the CA in NODE_EXTRA_CA_CERTS: two replicas share the cache, and both show Redis up', async () => {
    expect(redis.url).toBe(`rediss://:${password}@127.0.0.1:${redis.port}`);
    for (const replica of [a, b]) {
      expect(logged(replica, 'Redis connected: cache, budgets and tokens shared with every replica')).toHaveLength(1);
      expect(await redisUp(replica)).toBe(1);
    }
    await aThenB(a, b, admin, prefix);
    for (const replica of [a, b]) expect(replica.output()).not.toMatch(/Redis unreachable|Redis failed a command/);
  });

  it('without the CA (certificate untrusted): starts, answers from memory with Redis down, writes nothing to Redis, and says why by code', async () => {
    const reason = await failsClosed(c, admin, untrustedPrefix);
    expect(reason).toMatch(UNTRUSTED);
    expect(c.output()).not.toContain(`127.0.0.1:${redis.port}`);
  });

  it('the password, in the URL, is in no line a replica wrote (at debug, from start to stop), trusted or not', async () => {
    // Authenticated: A writes (a Redis that refused AUTH would leave it down, writing nothing).
    const before = (await keysUnder(admin, `${prefix}cache:`)).length;
    expect((await a.gql(USERS, { ids: ['101', '102'] })).body.errors).toBeUndefined();
    await until(async () => (await keysUnder(admin, `${prefix}cache:`)).length === before + 2);
    await Promise.all([a, b, c].map((replica) => replica.stop()));
    for (const replica of [a, b, c]) saysNothingOf(replica, password);
  });
});

describe('a Cluster over TLS (REDIS_CLUSTER_NODES, REDIS_PASSWORD, REDIS_TLS=1)', () => {
  const own = started();
  const password = `tls-${randomUUID()}`;
  let cluster: OwnCluster;
  let admin: Cluster;
  /** A and B trust the CA; C does not. */
  let a: SubgraphProcess;
  let b: SubgraphProcess;
  let c: SubgraphProcess;
  const prefix = uniquePrefix('tls-cluster');
  const untrustedPrefix = uniquePrefix('tls-cluster-untrusted');

  beforeAll(async () => {
    // Three masters and three replicas; the nodes' bus and replication on TLS too.
    cluster = await startOwnCluster({ tls: certs, password });
    own.servers.push(cluster);
    // The test's own reads go through the plaintext ports (the helper's).
    admin = new Cluster(cluster.startupNodes, { redisOptions: { password } });
    own.admins.push(admin);
    const trusted = { ...cluster.environment, REDIS_KEY_PREFIX: prefix, NODE_EXTRA_CA_CERTS: certs.ca };
    // Its first requests wait for Redis as for a failover (REDIS_FAILOVER_WAIT_MS, 3 s by default) before answering
    // from memory: shorter here, which changes nothing else.
    const untrusted = { ...cluster.environment, REDIS_KEY_PREFIX: untrustedPrefix, REDIS_FAILOVER_WAIT_MS: '500' };
    [a, b, c] = (await replicas(own, [trusted, trusted, untrusted])) as [SubgraphProcess, SubgraphProcess, SubgraphProcess];
  }, 60_000);

  afterAll(() => stopAll(own));

  it('with the CA in NODE_EXTRA_CA_CERTS: two replicas share the cache', async () => {
    // The subgraph is given the TLS ports only, and asks for TLS.
    expect(cluster.environment).toEqual({
      REDIS_CLUSTER_NODES: cluster.nodes.map((node) => `127.0.0.1:${node.tlsPort}`).join(','),
      REDIS_PASSWORD: password,
      REDIS_TLS: '1',
    });
    for (const replica of [a, b]) expect(await redisUp(replica)).toBe(1);
    await aThenB(a, b, admin, prefix);
    for (const replica of [a, b]) expect(replica.output()).not.toMatch(/Redis unreachable|Redis failed a command|CROSSSLOT/);
  });

  it('without the CA: starts, answers from memory with Redis down, writes nothing; no replica logs the password', async () => {
    const reason = await failsClosed(c, admin, untrustedPrefix);
    // ioredis's Cluster reports that no node answered, not why: the certificate's code is not in the line.
    expect(reason).toMatch(new RegExp(`^ClusterAllFailedError$|${UNTRUSTED.source}`));
    await Promise.all([a, b, c].map((replica) => replica.stop()));
    for (const replica of [a, b, c]) saysNothingOf(replica, password);
  });
});
