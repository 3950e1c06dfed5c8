import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { redisUp } from '../upstream/metrics.js';

/**
 * The subgraph's one connection to Redis (README, "Sharing upstream calls"), when `REDIS_URL` is set:
 * what the replicas share — cached records, rate budgets, pacing, rotating tokens — lives there.
 *
 * Redis is a real dependency with a graceful loss. Every user of this link has an in-memory path and
 * takes it whenever `up` is false or a command fails: a command never waits for a connection (no
 * offline queue) nor longer than `commandTimeoutMs`, so losing Redis costs a request at most that, once,
 * and never fails it. The link reconnects by itself, forever, with a capped backoff; a log line and the
 * `users_subgraph_redis_up` gauge say when it is lost and when it is back. `/ready` does not look at it.
 *
 * Keys: every key this process writes starts with `prefix` (REDIS_KEY_PREFIX), so that several
 * deployments, and tests, can share one Redis. The URL may hold a password: it is never logged.
 */
export interface RedisLinkOptions {
  url: string;
  /** Starts every key (e.g. `users-subgraph:`). */
  prefix: string;
  /** Longest wait for one command before the in-memory path is taken instead. */
  commandTimeoutMs: number;
  logger: Logger;
}

export class RedisLink {
  readonly client: Redis;
  readonly prefix: string;
  private connected = false;
  private closed = false;
  /** Whether a loss was already said: one log line per loss, not one per reconnect attempt. */
  private lossReported = false;

  constructor(private readonly options: RedisLinkOptions) {
    this.prefix = options.prefix;
    this.client = new Redis(options.url, {
      lazyConnect: true,
      // Fail at once rather than queue: the caller has an in-memory path and a request waiting.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: Math.max(1_000, options.commandTimeoutMs * 4),
      // Reconnect forever: 50 ms, 100 ms, ... at most 2 s apart.
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), 2_000),
    });
    redisUp.set(0);
    this.client.on('ready', () => {
      this.connected = true;
      redisUp.set(1);
      if (this.lossReported) options.logger.info('Redis is back: shared cache, budgets and tokens in use again');
      this.lossReported = false;
    });
    const lost = (error?: unknown) => {
      this.connected = false;
      redisUp.set(0);
      if (this.closed || this.lossReported) return;
      this.lossReported = true;
      options.logger.warn(
        { reason: reasonOf(error) },
        'Redis unreachable: serving from this process alone (its memory for cache, budgets and tokens) until it is back',
      );
    };
    this.client.on('error', lost);
    this.client.on('close', () => lost());
    this.client.on('end', () => lost());
  }

  /**
   * Connects; resolves whether Redis answered. Start-up does not wait for Redis beyond this first
   * attempt: without it, the subgraph serves from memory and keeps trying.
   */
  async connect(): Promise<boolean> {
    try {
      await this.client.connect();
      return true;
    } catch (error) {
      this.lossReported = false;
      if (!this.closed) this.options.logger.warn({ reason: reasonOf(error) }, 'Redis unreachable at start: serving from memory, retrying');
      this.lossReported = true;
      return false;
    }
  }

  /** Whether commands can be sent now; when false, take the in-memory path without trying. */
  get up(): boolean {
    return this.connected && this.client.status === 'ready';
  }

  /** `name` under this deployment's prefix. */
  key(...parts: readonly string[]): string {
    return this.prefix + parts.join(':');
  }

  async close(): Promise<void> {
    this.closed = true;
    redisUp.set(0);
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

/** A connection error's kind, for logs: its code, never a message that could repeat the URL. */
function reasonOf(error: unknown): string | undefined {
  if (error === undefined) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : 'unknown';
}
