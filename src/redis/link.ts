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
  /** How often a Redis that stopped answering on an open connection is asked whether it is back (ms). */
  probeIntervalMs?: number;
}

export class RedisLink {
  readonly client: Redis;
  readonly prefix: string;
  private connected = false;
  /**
   * A command timed out on a connection that still looks open: a Redis that hangs, or a network that
   * drops packets without a reset. TCP would notice only minutes later, and until then every command
   * would cost the whole timeout, so the link counts as lost until a PING answers (`commandFailed`).
   */
  private stalled = false;
  private closed = false;
  /** During the first connection attempt, whose failure `connect` reports itself. */
  private starting = false;
  /** Whether a loss was already said: one log line per loss, not one per reconnect attempt. */
  private lossReported = false;
  /** `up` as last announced (log, gauge, listeners): they hear transitions only. */
  private announced = false;
  private readonly listeners = new Set<(up: boolean) => void>();
  private probe: NodeJS.Timeout | undefined;
  /** The kind of the last connection error, for the start-up line (`connect` itself rejects with a generic one). */
  private lastReason: string | undefined;

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
      this.stalled = false;
      this.changed();
    });
    const lost = (error?: unknown) => {
      this.connected = false;
      if (error !== undefined) this.lastReason = reasonOf(error);
      this.changed(reasonOf(error));
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
    this.starting = true;
    try {
      await this.client.connect();
      return true;
    } catch (error) {
      if (!this.closed && !this.lossReported) {
        this.options.logger.warn(
          { reason: this.lastReason ?? reasonOf(error) },
          'Redis unreachable at start: serving from memory, retrying',
        );
        this.lossReported = true;
      }
      return false;
    } finally {
      this.starting = false;
    }
  }

  /** Whether commands can be sent now; when false, take the in-memory path without trying. */
  get up(): boolean {
    return this.connected && !this.stalled && !this.closed && this.client.status === 'ready';
  }

  /**
   * What a user of the link calls with the error of a command that failed. A timeout marks Redis lost
   * (see `stalled`) until a PING, sent every `probeIntervalMs`, answers; other errors change nothing
   * (a closed connection is seen by the link itself).
   */
  commandFailed(error: unknown): void {
    if (!(error instanceof Error) || error.message !== 'Command timed out') return;
    if (this.stalled || !this.connected || this.closed) return;
    this.stalled = true;
    this.changed('ETIMEDOUT');
    this.scheduleProbe();
  }

  /** Calls `listener` with each change of `up` from now on; the returned function stops it. */
  onChange(listener: (up: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once `up` is `wanted`: at once if it is. */
  waitUntil(wanted: boolean): Promise<void> {
    if (this.up === wanted) return Promise.resolve();
    return new Promise((resolve) => {
      const stop = this.onChange((up) => {
        if (up !== wanted) return;
        stop();
        resolve();
      });
    });
  }

  /** `name` under this deployment's prefix. */
  key(...parts: readonly string[]): string {
    return this.prefix + parts.join(':');
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.probe);
    this.changed();
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  /** Announces a change of `up`: the gauge, one log line per loss and per recovery, the listeners. */
  private changed(reason?: string): void {
    const up = this.up;
    if (up === this.announced) return;
    this.announced = up;
    redisUp.set(up ? 1 : 0);
    if (up) {
      if (this.lossReported) this.options.logger.info('Redis is back: shared cache, budgets and tokens in use again');
      this.lossReported = false;
    } else if (!this.closed && !this.starting && !this.lossReported) {
      this.lossReported = true;
      this.options.logger.warn(
        { reason },
        'Redis unreachable: serving from this process alone (its memory for cache, budgets and tokens) until it is back',
      );
    }
    for (const listener of [...this.listeners]) listener(up);
  }

  private scheduleProbe(): void {
    this.probe = setTimeout(() => {
      this.probe = undefined;
      if (this.closed || !this.stalled) return;
      this.client.ping().then(
        () => {
          if (!this.stalled) return;
          this.stalled = false;
          this.changed();
        },
        () => this.scheduleProbe(),
      );
    }, this.options.probeIntervalMs ?? 1_000);
    this.probe.unref();
  }
}

/** A connection error's kind, for logs: its code, never a message that could repeat the URL. */
function reasonOf(error: unknown): string | undefined {
  if (error === undefined) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : 'unknown';
}
