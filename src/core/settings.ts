/**
 * The settings the upstream layer runs with, as configuration (`src/config.ts`) gives them. This module
 * imports nothing of the project.
 */

/** How every provider talks to its upstream: one set of settings, each provider's client reads them. */
export interface UpstreamSettings {
  timeoutMs: number;
  connections: number;
  retry: RetryPolicy;
  circuit: CircuitSettings;
  /** The budget planner's limits (docs/upstream-budget.md). */
  planner: PlannerSettings;
}

export interface PlannerSettings {
  /** How long an id waits at most for its upstream call to fill when the budget is scarce (UPSTREAM_MAX_HOLD_MS). */
  maxHoldMs: number;
  /** Ids one queue (a lookup, credential scope and partition) holds at most; beyond, RATE_LIMITED at once (UPSTREAM_MAX_QUEUED_IDS). */
  maxQueuedIds: number;
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Most time one call may spend waiting between attempts. */
  maxTotalWaitMs: number;
  /** First backoff step when the upstream gave no wait of its own. */
  baseDelayMs: number;
}

export interface CircuitSettings {
  /** Consecutive failed calls that open the circuit. */
  failures: number;
  /** How long an open circuit refuses calls before it lets one through to try. */
  coolDownMs: number;
}

/** What one operation may cost before it runs, and while it runs (docs/limits.md, "Limits"). */
export interface OperationLimits {
  /** The whole operation's deadline: work still queued or in flight upstream is then dropped. */
  timeoutMs: number;
  /** Distinct ids per provider (and portal) one operation may ask for; beyond, BAD_USER_INPUT per item. */
  maxIdsPerProvider: number;
  /** Items of id lists and `_entities` representations, duplicates included, after coercion. */
  maxListItems: number;
  /** Values the items of those lists may answer, estimated before they run as items × fields selected per item. */
  maxResultValues: number;
  /** Values all operations at once may be answering, as estimated before each runs (0: not counted). */
  maxResultValuesInFlight: number;
  maxTokens: number;
  maxDepth: number;
  maxAliases: number;
  /** Field selections after every fragment is expanded. */
  maxFields: number;
  maxRootFields: number;
  maxDirectives: number;
  maxResponseBytes: number;
}

/** A host and port of a Redis node or a Sentinel. */
export interface RedisAddress {
  host: string;
  port: number;
}

/** Credentials and TLS for the nodes of a Cluster or a Sentinel set (a single node's are in its URL). */
export interface RedisAuth {
  username?: string;
  password?: string;
  tls: boolean;
}

/**
 * The Redis the replicas share, as it is run (docs/sharing.md): one node (REDIS_URL), a Cluster
 * (REDIS_CLUSTER_NODES: any of its nodes, the rest are discovered), or a master found through Sentinel
 * (REDIS_SENTINELS, REDIS_SENTINEL_NAME), which follows a failover.
 */
export type RedisTopology =
  | { kind: 'node'; url: string }
  | ({ kind: 'cluster'; nodes: readonly RedisAddress[] } & RedisAuth)
  | ({ kind: 'sentinel'; sentinels: readonly RedisAddress[]; name: string; sentinelPassword?: string } & RedisAuth);
