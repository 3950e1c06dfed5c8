import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs } from '../testing/log-capture.js';
import { type OwnRedis, startOwnRedis } from '../testing/redis.js';
import { type OwnCluster, startOwnCluster } from '../testing/redis-topologies.js';
import { RedisLink } from './link.js';
import { LuaScript } from './lua-script.js';

const INCR = new LuaScript("return redis.call('INCR', KEYS[1])");

/** Every command each of `nodes` executes from now on, as MONITOR prints it, until `stop()`. */
async function monitor(nodes: ReadonlyArray<{ host: string; port: number }>): Promise<{ lines: string[]; stop: () => void }> {
  const lines: string[] = [];
  const clients = await Promise.all(
    nodes.map(async ({ host, port }) => {
      const client = new Redis({ host, port });
      client.on('error', () => {});
      const feed = await client.monitor();
      feed.on('error', () => {});
      feed.on('monitor', (_time: string, args: string[], source: string) => lines.push(`${source} ${args.join(' ')}`));
      return { client, feed };
    }),
  );
  return {
    lines,
    stop: () => {
      for (const { client, feed } of clients) {
        feed.disconnect();
        client.disconnect();
      }
    },
  };
}

/** Resolves once `condition` holds, asking again as the event loop turns (the test's timeout ends a wait that never does). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('LuaScript.run with replicaAckMs: a write that must survive a failover waits for a replica', () => {
  let cluster: OwnCluster;
  let link: RedisLink;

  beforeAll(async () => {
    cluster = await startOwnCluster();
    link = new RedisLink({
      topology: { kind: 'cluster', nodes: cluster.startupNodes, tls: false },
      prefix: 'test:lua:',
      commandTimeoutMs: 2_000,
      logger: captureLogs().logger,
    });
    expect(await link.connect()).toBe(true);
  }, 60_000);

  afterAll(async () => {
    await link?.close();
    await cluster?.close();
  });

  it('on a Cluster, the link asks for it, and WAIT follows the script on the connection to the key’s own master', async () => {
    expect(link.replicaAckMs).toBe(500);
    const key = `test:lua:{ledger}:${process.pid}`;
    const watched = await monitor(await cluster.masters());
    try {
      expect(await INCR.run(link.client, [key], [], link.replicaAckMs)).toBe(1);
      expect(await INCR.run(link.client, [key], [], link.replicaAckMs)).toBe(2);
      // The link's commands, in the order the key's master ran them (the script's own INCR is logged as `lua`):
      // each script (the first by its SHA, refused NOSCRIPT, then by its text) and right after it, on the same
      // connection, the WAIT.
      const ours = () => watched.lines.filter((line) => / (evalsha|eval|wait) /.test(line));
      const sent = () => ours().map((line) => line.split(' ')[1]);
      await until(() => sent().filter((command) => command === 'wait').length === 3);
      expect(sent()).toEqual(['evalsha', 'wait', 'eval', 'wait', 'evalsha', 'wait']);
      expect(new Set(ours().map((line) => line.split(' ')[0])).size).toBe(1);
      expect(watched.lines.filter((line) => line.endsWith(' wait 1 500'))).toHaveLength(3);
    } finally {
      watched.stop();
      await link.client.del(key);
    }
  });

  it('without replicaAckMs, the script alone', async () => {
    const key = `test:lua:{plain}:${process.pid}`;
    const watched = await monitor(await cluster.masters());
    try {
      expect(await INCR.run(link.client, [key], [])).toBe(1);
      await until(() => watched.lines.some((line) => / (evalsha|eval) /.test(line)));
      expect(watched.lines.filter((line) => / wait /.test(line))).toEqual([]);
    } finally {
      watched.stop();
      await link.client.del(key);
    }
  });
});

describe('one node', () => {
  let redis: OwnRedis;
  beforeAll(async () => {
    redis = await startOwnRedis();
  });
  afterAll(async () => redis?.close());

  it('asks no replica to acknowledge (none fails over): replicaAckMs is undefined', async () => {
    const link = new RedisLink({ url: redis.url, prefix: 'test:lua:', commandTimeoutMs: 2_000, logger: captureLogs().logger });
    try {
      expect(await link.connect()).toBe(true);
      expect(link.replicaAckMs).toBeUndefined();
      // A script the server has not cached (NOSCRIPT) is sent by its text, and the answer is the script's.
      expect(await new LuaScript(`return '${process.pid}'`).run(link.client, ['k'], [], 50)).toBe(String(process.pid));
    } finally {
      await link.close();
    }
  });
});
