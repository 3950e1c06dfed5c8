import calculateSlot from 'cluster-key-slot';
import { Cluster, type ClusterOptions, Redis, type RedisOptions, ReplyError } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisTopology } from '../core/settings.js';
import { redisFallbacks, redisUp } from '../telemetry/metrics.js';

/**
 * The subgraph's one connection to Redis (docs/sharing.md, "Sharing upstream calls"), when `REDIS_URL` is set:
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
 *
 * "Redis, or this process's memory" is decided in one place, `orLocal`: every user of the link names
 * its use (`RedisUse`), and gets the up check, a backoff of its own after a failure, the failure's
 * classification, a count on `/metrics` and one log line when it starts and stops answering from memory.
 */

/** What the link is used for: each use backs off on its own, and is named in log lines and metrics. */
export type RedisUse = 'record-cache' | 'fetch-claims' | 'rate-budget' | 'pacing' | 'tokens';

/** Why a call was answered from memory (`users_subgraph_redis_fallbacks_total{reason}`). */
type FallbackReason = 'down' | 'backoff' | 'timeout' | 'refused' | 'failed';

/**
 * The uses whose memory path lets replicas disagree: a record or a claim read from memory lets two replicas
 * ask for the same id, and a window spent from memory lets them overspend it. On a Cluster or Sentinel they wait
 * out a failover (REDIS_FAILOVER_WAIT_MS) rather than take it.
 */
const WAITS_OUT_FAILOVERS: ReadonlySet<RedisUse> = new Set(['fetch-claims', 'rate-budget', 'record-cache']);

/** After a failure, how long a use leaves Redis alone: a Redis that is up but failing costs one failure a second per use, not one per request. */
export const REDIS_BACKOFF_MS = 1_000;
/**
 * How long the link waits before reconnection attempt `attempt` (ms): 50, 100, 200, … at most 2 s apart for one
 * node; at most 200 ms apart for a Cluster or Sentinel, whose failover is waited out for REDIS_FAILOVER_WAIT_MS
 * (3 s) only. With 2 s between attempts, the attempt after the Sentinels named the new master came ~3 s into
 * the failover, past that wait, and every request of the outage answered from memory (two replicas each
 * fetched every id again).
 */
export function reconnectDelayMs(topology: RedisTopology['kind'], attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 6), topology === 'node' ? 2_000 : 200);
}

/** A connection to one node (or to the master Sentinel names), or to a Cluster: both take the same commands. */
export type RedisClient = Redis | Cluster;

export interface RedisLinkOptions {
  /** One node's URL; or `topology`, which may also be a Cluster or Sentinel. */
  url?: string;
  topology?: RedisTopology;
  /** Starts every key (e.g. `users-subgraph:`). */
  prefix: string;
  /** Longest wait for one command before the in-memory path is taken instead. */
  commandTimeoutMs: number;
  logger: Logger;
  /** How often a Redis that stopped answering on an open connection is asked whether it is back (ms). */
  probeIntervalMs?: number;
  /**
   * How long, from the start of an outage, the uses whose memory path would let replicas disagree (records
   * and claims: an id asked twice; a window's ledger: calls overspent) wait for Redis before they answer from memory.
   * For a Cluster or Sentinel, whose failover takes seconds (REDIS_FAILOVER_WAIT_MS); 0 for one node.
   */
  failoverWaitMs?: number;
  /** Monotonic milliseconds that backoffs are timed on (tests move their own). */
  now?: () => number;
}

export class RedisLink {
  readonly client: RedisClient;
  /** A Cluster: a multi-key command must keep to one slot (`bySlot`). */
  readonly cluster: boolean;
  /**
   * On a Cluster or Sentinel, whose failovers promote a replica: how long a write that must survive one (a
   * window's ledger) waits for a replica to have it (`LuaScript.run`); undefined for one node.
   */
  readonly replicaAckMs: number | undefined;
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
  /** Per use, after a failure: until when it leaves Redis alone, and why it failed (said once). */
  private readonly backoffs = new Map<RedisUse, { until: number; reason: FallbackReason }>();
  private readonly now: () => number;
  /** When the outage that uses waiting out a failover are in began (`patiently`); undefined while Redis answers. */
  private outageSince: number | undefined;
  /** A second connection for pub/sub (a subscribed connection takes no other command), made on first `subscribe`. */
  private subscriber: RedisClient | undefined;
  private readonly channels = new Map<string, Set<(message: string) => void>>();

  constructor(private readonly options: RedisLinkOptions) {
    this.prefix = options.prefix;
    this.now = options.now ?? (() => performance.now());
    const topology: RedisTopology = options.topology ?? { kind: 'node', url: options.url ?? '' };
    this.cluster = topology.kind === 'cluster';
    // A quarter of a command's timeout: replication on a LAN takes well under a millisecond, and the command
    // (with its wait) must still answer within the timeout rather than be taken for a hung Redis.
    this.replicaAckMs = topology.kind === 'node' ? undefined : Math.max(5, Math.floor(options.commandTimeoutMs / 4));
    this.client = clientFor(topology, {
      lazyConnect: true,
      // Fail at once rather than queue: the caller has an in-memory path and a request waiting.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // No commandTimeout here: `orLocal` times commands itself, so that a process too busy to read an answer
      // that came in time does not take Redis for hung (see `timed`).
      connectTimeout: Math.max(1_000, options.commandTimeoutMs * 4),
      // Reconnect forever, the attempts capped by topology (`reconnectDelayMs`).
      retryStrategy: (attempt) => reconnectDelayMs(topology.kind, attempt),
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
      await firstAttempt(this.client, () => this.connected);
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

  /**
   * The positions of `keys` in groups a multi-key command or script may take at once: one group on a single
   * node; on a Cluster, one per hash slot (a `MGET` across slots is refused with CROSSSLOT), in the order
   * first met. Positions, not keys: a key given twice keeps both its places, and answers go back by index.
   */
  slotGroups(keys: readonly string[]): number[][] {
    if (!this.cluster) return [keys.map((_, i) => i)];
    const groups = new Map<number, number[]>();
    for (const [i, key] of keys.entries()) {
      const slot = calculateSlot(key);
      const group = groups.get(slot);
      if (group === undefined) groups.set(slot, [i]);
      else group.push(i);
    }
    return [...groups.values()];
  }

  /** `keys` in the groups of `slotGroups`. */
  bySlot(keys: readonly string[]): string[][] {
    if (!this.cluster) return [[...keys]];
    return this.slotGroups(keys).map((group) => group.map((i) => keys[i]!));
  }

  /** `MGET keys` on `client`: on a Cluster, one per hash slot, sent together, answered in the order of `keys`. */
  async mget(client: RedisClient, keys: readonly string[]): Promise<Array<string | null>> {
    if (!this.cluster) return client.mget(...keys);
    const groups = this.slotGroups(keys);
    const answers = await Promise.all(groups.map((group) => client.mget(...group.map((i) => keys[i]!))));
    const values = new Array<string | null>(keys.length).fill(null);
    for (const [g, group] of groups.entries()) {
      for (const [j, i] of group.entries()) values[i] = answers[g]![j] ?? null;
    }
    return values;
  }

  /** Whether commands can be sent now; when false, take the in-memory path without trying. */
  get up(): boolean {
    return this.connected && !this.stalled && !this.closed && this.client.status === 'ready';
  }

  /**
   * `command` on Redis, or `fallback` — what this process alone knows — when Redis cannot take it: the
   * link is down, `use` backs off after a failure, or `command` fails now (it may throw itself on an
   * answer of the wrong shape). A failure is classified (a timeout marks Redis lost until a PING answers;
   * a connection lost is seen by the link itself; an error reply such as OOM, READONLY or LOADING, or any
   * other failure, makes `use` leave Redis alone for REDIS_BACKOFF_MS), counted, and said in one log
   * line when `use` starts answering from memory and one when Redis takes it again. `fallback` may throw:
   * then so does this (a use with no memory path).
   */
  async orLocal<T>(
    use: RedisUse,
    command: (client: RedisClient) => Promise<T>,
    fallback: () => T | Promise<T>,
    /** The longest `command` may take in all (ms): `commandTimeoutMs` unless it sends many commands (a SCAN). */
    timeoutMs = this.options.commandTimeoutMs,
  ): Promise<T> {
    if ((this.options.failoverWaitMs ?? 0) > 0 && WAITS_OUT_FAILOVERS.has(use)) return this.patiently(use, command, fallback, timeoutMs);
    if (!this.up) {
      redisFallbacks.inc({ use, reason: 'down' });
      return fallback();
    }
    const backoff = this.backoffs.get(use);
    if (backoff !== undefined && this.now() < backoff.until) {
      redisFallbacks.inc({ use, reason: 'backoff' });
      return fallback();
    }
    let result: T;
    try {
      result = await timed(command(this.client), timeoutMs);
    } catch (error) {
      const reason = this.classify(error);
      redisFallbacks.inc({ use, reason });
      if (backoff === undefined) {
        this.options.logger.warn(
          { use, reason, code: reasonOf(error) },
          "Redis failed a command: this use answers from this process's memory for now",
        );
      }
      this.backoffs.set(use, { until: this.now() + REDIS_BACKOFF_MS, reason });
      return fallback();
    }
    if (backoff !== undefined) {
      this.backoffs.delete(use);
      this.options.logger.info({ use }, 'Redis takes this use again');
    }
    return result;
  }

  /**
   * `orLocal` for a use that waits out a failover: tried again every 50 ms while Redis is lost or failing,
   * until REDIS_FAILOVER_WAIT_MS after the outage began, then answered from memory. The outage is timed
   * once for every call: past its wait, calls answer from memory at once until a command succeeds again.
   */
  private async patiently<T>(
    use: RedisUse,
    command: (client: RedisClient) => Promise<T>,
    fallback: () => T | Promise<T>,
    timeoutMs: number,
  ): Promise<T> {
    const waitMs = this.options.failoverWaitMs ?? 0;
    let reason: FallbackReason = 'down';
    for (;;) {
      if (this.up) {
        try {
          const result = await timed(command(this.client), timeoutMs);
          if (this.outageSince !== undefined) {
            this.outageSince = undefined;
            this.options.logger.info({ use }, 'Redis takes this use again');
          }
          return result;
        } catch (error) {
          // An answer of the wrong shape is no failover: waiting would not change it.
          if (error instanceof TypeError) {
            redisFallbacks.inc({ use, reason: 'failed' });
            return fallback();
          }
          reason = this.classify(error);
        }
      }
      const now = this.now();
      if (this.outageSince === undefined) {
        this.outageSince = now;
        this.options.logger.warn({ use, waitMs }, 'Redis failed a command: waiting out a failover before answering from memory');
      }
      const left = this.outageSince + waitMs - now;
      if (left <= 0) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, left)));
    }
    redisFallbacks.inc({ use, reason });
    return fallback();
  }

  /** Whether `use` would try Redis now: the link is up and `use` does not back off. */
  usable(use: RedisUse): boolean {
    const backoff = this.backoffs.get(use);
    return this.up && (backoff === undefined || this.now() >= backoff.until);
  }

  /** What a failed command means: a timeout also marks Redis lost until it answers again. */
  private classify(error: unknown): FallbackReason {
    if (error instanceof Error && error.message === TIMED_OUT) {
      this.commandFailed(error);
      return 'timeout';
    }
    return error instanceof ReplyError ? 'refused' : 'failed';
  }

  /**
   * What a user of the link calls with the error of a command that failed. A timeout marks Redis lost
   * (see `stalled`) until a PING, sent every `probeIntervalMs`, answers; other errors change nothing
   * (a closed connection is seen by the link itself).
   */
  commandFailed(error: unknown): void {
    if (!(error instanceof Error) || error.message !== TIMED_OUT) return;
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

  /**
   * Calls `listener` with each message published on `channel` from now on; the returned function stops it.
   * Messages are hints that something changed, never the only way to learn it: a subscription is lost with
   * its connection (it is renewed on reconnect), so every listener also has a poll of its own.
   */
  subscribe(channel: string, listener: (message: string) => void): () => void {
    let listeners = this.channels.get(channel);
    if (listeners === undefined) {
      listeners = new Set();
      this.channels.set(channel, listeners);
      const subscriber = this.subscriberConnection();
      if (subscriber !== undefined) void subscriber.subscribe(channel).catch(() => {});
    }
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  private subscriberConnection(): RedisClient | undefined {
    if (this.closed) return undefined;
    if (this.subscriber !== undefined) return this.subscriber;
    // Its commands (SUBSCRIBE) may wait for the connection: nothing waits on them.
    const subscriber =
      this.client instanceof Cluster
        ? this.client.duplicate(undefined, { enableOfflineQueue: true, lazyConnect: true })
        : this.client.duplicate({ enableOfflineQueue: true, lazyConnect: true, commandTimeout: undefined });
    subscriber.on('error', () => {}); // the command link reports losses; this one reconnects and resubscribes by itself
    subscriber.on('message', (channel: string, message: string) => {
      for (const listener of this.channels.get(channel) ?? []) listener(message);
    });
    void subscriber.connect().catch(() => {});
    this.subscriber = subscriber;
    return subscriber;
  }

  /** `name` under this deployment's prefix. */
  key(...parts: readonly string[]): string {
    return this.prefix + parts.join(':');
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.probe);
    this.changed();
    this.subscriber?.disconnect();
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
      // A Redis that came back starts afresh: no use goes on avoiding it for what the lost one did.
      this.backoffs.clear();
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
      timed(this.client.ping(), this.options.commandTimeoutMs).then(
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

/** The message of a command that took too long (as ioredis words its own, so that one check covers both). */
export const TIMED_OUT = 'Command timed out';

/**
 * `work`, or a rejection with TIMED_OUT after `ms`. When the timer fires, I/O gets one more turn before the
 * verdict (the rejection waits for `setImmediate`, which runs after the poll phase): a process that was busy
 * for longer than `ms` — a burst of 1,000 requests arriving at once — reads the answers that came in time
 * before it judges them late. With ioredis's own commandTimeout, such a burst made every command of the
 * burst time out and the link declare a healthy Redis lost (issue 20).
 */
export function timed<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => setImmediate(() => reject(new Error(TIMED_OUT))), ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * `client.connect()`, settled by the first attempt: it resolves once the link is up (`isUp`: the client's
 * `ready`, which the link hears first, having listened since it was made) and rejects at the first error.
 * One node and a Cluster reject by themselves; a Sentinel client whose Sentinels all fail never does (it
 * keeps asking them, `sentinelRetryStrategy`), and start-up would hang on it, silently. A Cluster resolves
 * `connect()` before it says `ready`: a command sent then would have taken the memory path. The client keeps
 * retrying in the background either way.
 */
function firstAttempt(client: RedisClient, isUp: () => boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const settle = (error?: unknown) => {
      client.off('error', failed);
      client.off('ready', ready);
      if (error === undefined) resolve();
      else reject(error);
    };
    const failed = (error: unknown) => settle(error ?? new Error('Redis connection failed'));
    const ready = () => settle();
    client.on('error', failed);
    client.on('ready', ready);
    client.connect().then(() => {
      if (isUp()) settle();
    }, failed);
  });
}

/** A connection error's kind, for logs: its code, never a message that could repeat the URL. */
function reasonOf(error: unknown): string | undefined {
  if (error === undefined) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : 'unknown';
}

/**
 * The client for `topology`, with `common` options on every connection it makes. A Cluster fails a
 * command at once while it has no slot map (no offline queue) and follows MOVED/ASK itself; a Sentinel
 * client asks the Sentinels for the master and asks again after a failover.
 */
export function clientFor(topology: RedisTopology, common: RedisOptions): RedisClient {
  if (topology.kind === 'node') return new Redis(topology.url, common);
  const auth: RedisOptions = {
    ...(topology.username === undefined ? {} : { username: topology.username }),
    ...(topology.password === undefined ? {} : { password: topology.password }),
    ...(topology.tls ? { tls: {} } : {}),
  };
  if (topology.kind === 'sentinel') {
    return new Redis({
      ...common,
      ...auth,
      sentinels: topology.sentinels.map(({ host, port }) => ({ host, port })),
      name: topology.name,
      ...(topology.sentinelPassword === undefined ? {} : { sentinelPassword: topology.sentinelPassword }),
      // TLS to the master (enableTLSForSentinelMode) and to the Sentinels themselves (sentinelTLS): without
      // the latter, the Sentinels are asked, and REDIS_SENTINEL_PASSWORD sent, in plaintext.
      ...(topology.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      sentinelRetryStrategy: (attempt: number) => reconnectDelayMs('sentinel', attempt),
    });
  }
  const { retryStrategy, enableOfflineQueue, lazyConnect, ...perNode } = common;
  const options: ClusterOptions = {
    lazyConnect: lazyConnect ?? true,
    enableOfflineQueue: enableOfflineQueue ?? false,
    clusterRetryStrategy: (attempt: number) => retryStrategy?.(attempt) ?? 2_000,
    // A failover moves slots: refresh the map and redirect instead of failing the command outright.
    retryDelayOnFailover: 50,
    retryDelayOnClusterDown: 50,
    redisOptions: { ...perNode, ...auth },
  };
  return new Cluster(
    topology.nodes.map(({ host, port }) => ({ host, port })),
    options,
  );
}
