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

  async run(client: RedisClient, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
