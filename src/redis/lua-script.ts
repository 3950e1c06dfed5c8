import { createHash } from 'node:crypto';
import type { RedisClient } from './link.js';

/**
 * A Lua script run atomically in Redis: by its SHA-1 (EVALSHA: the script's text crosses the network
 * once per Redis server), and by its text (EVAL) when that server does not have it cached yet (a new or
 * restarted Redis answers NOSCRIPT), which caches it for next time.
 *
 * Not `defineCommand`: that adds a method to the shared client, which every user of the link sees.
 */
export class LuaScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /**
   * Runs the script; with `replicaAckMs`, also waits (`WAIT 1 replicaAckMs`, pipelined after it on the same
   * connection, so to the same master on a Cluster) until a replica has it, or that long. A master's answer
   * means the write is in its memory only: replication is asynchronous, and a failover that promotes a
   * replica before the write reached it loses the write, while the caller acts on it. For a window's ledger
   * that is a call spent twice (X's 21st call of 20, answered 429, seen on a Cluster under failover). The
   * replica that acknowledged is the most up to date, the one a failover promotes. When none does in time (no
   * replica, or a slow one) the answer is used anyway: with no replica there is nothing to fail over to.
   */
  async run(client: RedisClient, keys: readonly string[], args: ReadonlyArray<string | number>, replicaAckMs?: number): Promise<unknown> {
    try {
      return await this.send(client, keys, args, false, replicaAckMs);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return this.send(client, keys, args, true, replicaAckMs);
    }
  }

  private async send(
    client: RedisClient,
    keys: readonly string[],
    args: ReadonlyArray<string | number>,
    byText: boolean,
    replicaAckMs: number | undefined,
  ): Promise<unknown> {
    if (replicaAckMs === undefined) {
      return byText ? client.eval(this.source, keys.length, ...keys, ...args) : client.evalsha(this.sha, keys.length, ...keys, ...args);
    }
    const pipeline = client.pipeline();
    if (byText) pipeline.eval(this.source, keys.length, ...keys, ...args);
    else pipeline.evalsha(this.sha, keys.length, ...keys, ...args);
    pipeline.wait(1, replicaAckMs);
    const [ran] = (await pipeline.exec()) ?? [];
    if (ran === undefined) throw new Error('pipeline discarded');
    const [error, value] = ran;
    if (error) throw error;
    return value;
  }
}
