import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MISSING_REDIS_CLI, type OwnCluster, type OwnSentinel, startOwnCluster, startOwnSentinel } from './redis-topologies.js';

// Each test starts 5 or 6 processes of its own and fails some of them over: generous deadlines.
const SLOW = 60_000;
/** How long a client may take to answer again after a failover. */
const RECOVERY = { timeout: 20_000, interval: 100 };

const open: Array<{ close(): Promise<void> } | { disconnect(): void }> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) {
    if ('disconnect' in thing) thing.disconnect();
    else await thing.close();
  }
});
function track<T extends OwnCluster | OwnSentinel | Cluster | Redis>(thing: T): T {
  // A client that loses its node on purpose reports it as an 'error' event; the test looks at what it answers.
  if ('on' in thing) thing.on('error', () => {});
  open.push(thing);
  return thing;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The redis-server processes this worker started that still run. */
function ourRedisServers(): number[] {
  return execFileSync('ps', ['-A', '-o', 'pid=,ppid=,stat=,comm='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, ppid, stat, comm]) => Number(ppid) === process.pid && !stat?.startsWith('Z') && comm?.startsWith('redis-server'))
    .map(([pid]) => Number(pid));
}

const ourTempDirs = () => readdirSync(tmpdir()).filter((name) => name.startsWith(`users-subgraph-cluster-${process.pid}-`));

/** `field:value` of an INFO section. */
async function info(client: Redis, section: string): Promise<Map<string, string>> {
  return new Map(
    (await client.info(section))
      .split(/\r?\n/)
      .filter((line) => line.includes(':'))
      .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)]),
  );
}

/** Waits until every master of `cluster` has its writes on its replicas (no write is lost to the failover after). */
async function replicated(cluster: OwnCluster): Promise<void> {
  for (const master of await cluster.masters()) {
    const client = new Redis({ port: master.port, ...(cluster.password === undefined ? {} : { password: cluster.password }) });
    try {
      await vi.waitFor(async () => {
        const replication = await info(client, 'replication');
        const offset = replication.get('master_repl_offset');
        expect(replication.get('slave0')).toContain(`offset=${offset},`);
      }, RECOVERY);
    } finally {
      client.disconnect();
    }
  }
}

const keys = Array.from({ length: 100 }, (_, i) => `key:${i}`);

async function writeAll(client: Cluster, value: string): Promise<void> {
  await Promise.all(keys.map((key) => client.set(key, `${value}:${key}`)));
}

async function readAll(client: Cluster): Promise<(string | null)[]> {
  return Promise.all(keys.map((key) => client.get(key)));
}

describe('startOwnCluster', () => {
  it(
    'forms a Cluster of 3 masters with a replica each: keys spread over the masters, one hash tag keeps keys on one node, CROSSSLOT across slots',
    async () => {
      const password = 'a "pass word"';
      const cluster = track(await startOwnCluster({ password }));
      expect(cluster.nodes).toHaveLength(6);
      expect(cluster.env).toBe(cluster.nodes.map((node) => `127.0.0.1:${node.port}`).join(','));
      expect(cluster.environment).toEqual({ REDIS_CLUSTER_NODES: cluster.env, REDIS_PASSWORD: password });
      const roles = await Promise.all(cluster.nodes.map((node) => node.role()));
      expect(roles.filter((role) => role === 'master')).toHaveLength(3);
      expect(roles.filter((role) => role === 'replica')).toHaveLength(3);

      const client = track(new Cluster(cluster.startupNodes, { redisOptions: { password } }));
      await writeAll(client, 'v1');
      expect(await readAll(client)).toEqual(keys.map((key) => `v1:${key}`));
      // Spread: every master holds some of the 100 keys, and they are the kit's masters.
      const masters = client.nodes('master');
      expect(masters.map((node) => node.options.port).sort()).toEqual((await cluster.masters()).map((node) => node.port).sort());
      const sizes = await Promise.all(masters.map((node) => node.dbsize()));
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(100);
      for (const size of sizes) expect(size).toBeGreaterThan(0);

      // One hash tag, one slot, one node: that node answers for all three keys, the others redirect.
      const tagged = ['{t}:a', '{t}:b', '{t}:c'];
      const slots = await Promise.all(tagged.map((key) => client.call('CLUSTER', 'KEYSLOT', key)));
      expect(new Set(slots).size).toBe(1);
      await client.mset({ '{t}:a': '1', '{t}:b': '2', '{t}:c': '3' });
      const answers = await Promise.all(masters.map((node) => node.exists(...tagged).catch((error: Error) => error.message)));
      expect(answers.filter((answer) => answer === 3)).toHaveLength(1);
      for (const answer of answers.filter((a) => a !== 3)) expect(answer).toMatch(/^MOVED /);
      expect(await client.mget(...tagged)).toEqual(['1', '2', '3']);

      // Two slots in one MGET: refused.
      const keySlots = await Promise.all(keys.map(async (key) => ({ key, slot: await client.call('CLUSTER', 'KEYSLOT', key) })));
      const other = keySlots.find(({ slot }) => slot !== keySlots[0]!.slot)!;
      await expect(client.mget(keySlots[0]!.key, other.key)).rejects.toThrow(/CROSSSLOT/);
    },
    SLOW,
  );

  it(
    'fails over, by CLUSTER FAILOVER and by a killed master: the client keeps answering, the replica is a master; close() leaves no process',
    async () => {
      const cluster = track(await startOwnCluster());
      const client = track(new Cluster(cluster.startupNodes));
      await writeAll(client, 'v1');

      const manual = await cluster.manualFailover();
      expect(await manual.new.role()).toBe('master');
      expect(await manual.old.role()).toBe('replica');
      await vi.waitFor(async () => expect(await readAll(client)).toEqual(keys.map((key) => `v1:${key}`)), RECOVERY);

      await vi.waitFor(() => writeAll(client, 'v2'), RECOVERY);
      await replicated(cluster);
      // The master that has just taken over is killed: its former master takes over again.
      const killed = await cluster.failover(manual.new.port);
      expect(killed.old).toBe(manual.new);
      expect(killed.new).toBe(manual.old);
      expect(killed.old.running).toBe(false);
      await expect(killed.old.role()).rejects.toThrow(/does not run/);
      expect(await killed.new.role()).toBe('master');
      expect((await cluster.masters()).map((node) => node.port)).toContain(killed.new.port);
      await vi.waitFor(async () => expect(await readAll(client)).toEqual(keys.map((key) => `v2:${key}`)), RECOVERY);
      await vi.waitFor(() => writeAll(client, 'v3'), RECOVERY);
      expect(await readAll(client)).toEqual(keys.map((key) => `v3:${key}`));

      // Back, as the replica of the node that took its slots.
      await killed.old.restart();
      expect(await killed.old.role()).toBe('replica');

      const pids = cluster.pids();
      expect(pids).toHaveLength(6);
      client.disconnect();
      await cluster.close();
      expect(pids.filter(alive)).toEqual([]);
      expect(existsSync(cluster.dir)).toBe(false);
      await cluster.close();
    },
    SLOW,
  );

  it('a machine without redis-cli is told so, by name; the nodes started before are killed and their dir removed', async () => {
    const before = { servers: ourRedisServers(), dirs: ourTempDirs() };
    await expect(startOwnCluster({ cliCommand: 'redis-cli-that-is-not-installed' })).rejects.toThrow(MISSING_REDIS_CLI);
    expect(MISSING_REDIS_CLI).toMatch(/^redis-cli is not installed/);
    expect(ourRedisServers()).toEqual(before.servers);
    expect(ourTempDirs()).toEqual(before.dirs);
  });
});

describe('startOwnSentinel', () => {
  it(
    'a Sentinel client follows SENTINEL FAILOVER and a killed master to the new master, and reads what it wrote; close() leaves no process',
    async () => {
      const password = 'sentinel secret';
      const sentinel = track(await startOwnSentinel({ password }));
      expect(sentinel.env).toBe(sentinel.sentinels.map(({ port }) => `127.0.0.1:${port}`).join(','));
      expect(sentinel.environment).toEqual({ REDIS_SENTINELS: sentinel.env, REDIS_SENTINEL_NAME: 'mymaster', REDIS_PASSWORD: password });
      const client = track(new Redis({ sentinels: sentinel.sentinels, name: sentinel.name, password }));
      const servedBy = async () => Number((await info(client, 'server')).get('tcp_port'));

      const first = await sentinel.master();
      await client.set('before', '1');
      expect(await servedBy()).toBe(first.port);
      expect(await client.call('WAIT', '1', '5000')).toBe(1);

      await sentinel.failover();
      const second = await sentinel.master();
      expect(second.port).not.toBe(first.port);
      expect(sentinel.servers.map(({ port }) => port).sort()).toEqual([first.port, second.port].sort());
      await vi.waitFor(async () => {
        await client.set('after-failover', '2');
        expect(await servedBy()).toBe(second.port);
      }, RECOVERY);
      expect(await client.mget('before', 'after-failover')).toEqual(['1', '2']);
      expect(await client.call('WAIT', '1', '5000')).toBe(1);

      await sentinel.killMaster();
      const third = await sentinel.master();
      expect(third.port).toBe(first.port);
      await vi.waitFor(async () => {
        await client.set('after-kill', '3');
        expect(await servedBy()).toBe(third.port);
      }, RECOVERY);
      expect(await client.mget('before', 'after-failover', 'after-kill')).toEqual(['1', '2', '3']);
      // The killed node is back as its replica.
      expect(await client.call('WAIT', '1', '5000')).toBe(1);

      const pids = sentinel.pids();
      expect(pids).toHaveLength(5);
      client.disconnect();
      await sentinel.close();
      expect(pids.filter(alive)).toEqual([]);
      expect(existsSync(sentinel.dir)).toBe(false);
    },
    SLOW,
  );
});
