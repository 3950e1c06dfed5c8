import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ProviderId } from '../core/types.js';

/**
 * Prometheus metrics (docs/operations.md, "HTTP endpoints"). Labels carry only provider names, method templates and
 * status codes: never an id, a URL or a credential.
 */
export const registry = new Registry();
// Node's own metrics under their standard names, so stock dashboards (Grafana's Node.js ones) find them.
collectDefaultMetrics({ register: registry });

export const graphqlRequests = new Counter({
  name: 'users_subgraph_graphql_requests_total',
  help: 'GraphQL requests answered, by operation type (query, mutation, subscription; unknown when the document did not parse or name one).',
  labelNames: ['operation_type'] as const,
  registers: [registry],
});

export const graphqlDuration = new Histogram({
  name: 'users_subgraph_graphql_request_duration_seconds',
  help: 'Time from a GraphQL request read to its answer sent, by operation type.',
  labelNames: ['operation_type'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export const graphqlErrors = new Counter({
  name: 'users_subgraph_graphql_errors_total',
  help: 'Errors in GraphQL answers, by operation type and extensions.code (one answer may carry several).',
  labelNames: ['operation_type', 'code'] as const,
  registers: [registry],
});

export const demoServed = new Gauge({
  name: 'users_subgraph_demo',
  help: '1 while this process serves the embedded demo (built-in emulators, made-up users), else 0.',
  registers: [registry],
});

export const upstreamRequests = new Counter({
  name: 'users_subgraph_upstream_requests_total',
  help: 'HTTP requests / RPCs sent upstream (each retry counts again).',
  labelNames: ['provider', 'method', 'status'] as const,
  registers: [registry],
});

export const upstreamBatchSize = new Histogram({
  name: 'users_subgraph_upstream_batch_size',
  help: 'Ids per upstream call.',
  labelNames: ['provider'] as const,
  buckets: [1, 2, 5, 10, 20, 50, 100, 200],
  registers: [registry],
});

export const batchFill = new Histogram({
  name: 'users_subgraph_upstream_batch_fill_ratio',
  help: 'Ids per upstream call over the most it may carry, by why it went: full, paced (the budget could afford it), due (its oldest id had waited UPSTREAM_MAX_HOLD_MS), or unplanned (no budget).',
  labelNames: ['provider', 'reason'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1],
  registers: [registry],
});

export const heldSeconds = new Histogram({
  name: 'users_subgraph_upstream_hold_seconds',
  help: 'How long an id waited for its upstream call after its request asked for it (the coalescing window, and any hold of the budget planner).',
  labelNames: ['provider'] as const,
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
  registers: [registry],
});

export const plannerRefusals = new Counter({
  name: 'users_subgraph_upstream_budget_refusals_total',
  help: 'Ids answered RATE_LIMITED by the budget planner without a call: the window had no call left when they were due (exhausted), or their queue was full (queue_full).',
  labelNames: ['provider', 'reason'] as const,
  registers: [registry],
});

type BudgetReading = { provider: string; label: string; remaining: number; limit: number };

/** Each running app's budgets (`SharedState.budgets`), for the gauges below; an app removes its own when it stops. */
const budgetSources = new Set<() => Promise<BudgetReading[]>>();

/** Registers where the budget gauges read an app's budgets; returns what unregisters it. */
export function observeBudgets(read: () => Promise<BudgetReading[]>): () => void {
  budgetSources.add(read);
  return () => budgetSources.delete(read);
}

/**
 * Every app's budgets, read once per scrape: both gauges collect from the same reading (with Redis, a read
 * is a script per window), which is dropped once the scrape's turn of the event loop is over.
 */
let scrape: Promise<BudgetReading[]> | undefined;
function readBudgets(): Promise<BudgetReading[]> {
  scrape ??= (async () => {
    const readings: BudgetReading[] = [];
    for (const read of budgetSources) readings.push(...(await read()));
    return readings;
  })().finally(() => {
    setImmediate(() => {
      scrape = undefined;
    });
  });
  return scrape;
}

export const budgetRemaining = new Gauge({
  name: 'users_subgraph_upstream_budget_remaining',
  help: "Calls left in the upstream's current window, as this replica knows it (the server's own credentials; callers' scopes are not shown).",
  labelNames: ['provider', 'method'] as const,
  registers: [registry],
  async collect() {
    for (const reading of await readBudgets()) this.set({ provider: reading.provider, method: reading.label }, reading.remaining);
  },
});

export const budgetLimit = new Gauge({
  name: 'users_subgraph_upstream_budget_limit',
  help: "Calls the upstream's window allows in all (users_subgraph_upstream_budget_remaining over it: the share left).",
  labelNames: ['provider', 'method'] as const,
  registers: [registry],
  async collect() {
    for (const reading of await readBudgets()) this.set({ provider: reading.provider, method: reading.label }, reading.limit);
  },
});

export const upstreamDuration = new Histogram({
  name: 'users_subgraph_upstream_request_duration_seconds',
  help: 'Time from sending an upstream request to having its whole body.',
  labelNames: ['provider', 'method'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export const circuitState = new Gauge({
  name: 'users_subgraph_upstream_circuit_state',
  help: 'Circuit breaker of each upstream scope: 0 closed, 1 half-open (trying one call), 2 open (failing fast).',
  labelNames: ['provider', 'scope'] as const,
  registers: [registry],
});

export const connectionsDropped = new Counter({
  name: 'users_subgraph_connections_dropped_total',
  help: 'Connections closed as they were accepted because MAX_CONNECTIONS were open.',
  registers: [registry],
});

export const operationsInFlight = new Gauge({
  name: 'users_subgraph_operations_in_flight',
  help: 'GraphQL requests being answered now (a drain waits for these).',
  registers: [registry],
});

export const documentsCompiled = new Counter({
  name: 'users_subgraph_graphql_documents_compiled_total',
  help: 'Documents compiled into queries (graphql-jit): one per document the document cache holds, again after it forgot one.',
  registers: [registry],
});

export const cacheRejectedEntries = new Counter({
  name: 'users_subgraph_cache_rejected_entries_total',
  help: 'Entries read from Redis that were not answered: of another shape, another format version, or written under another place (a miss each).',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const cacheRequests = new Counter({
  name: 'users_subgraph_cache_requests_total',
  help: 'Keys looked up in the record cache: hit (fresh and with every field needed), miss, or stale (served expired because the upstream could not answer).',
  labelNames: ['provider', 'result'] as const,
  registers: [registry],
});

export const coalescedIds = new Counter({
  name: 'users_subgraph_coalesced_ids_total',
  help: 'Keys that joined an upstream call another request had started or was about to start, instead of costing one of their own.',
  labelNames: ['provider'] as const,
  registers: [registry],
});

export const resolutions = new Counter({
  name: 'users_subgraph_resolutions_total',
  help: 'Distinct keys each request resolved (from the cache or upstream): divided by users_subgraph_upstream_requests_total, the resolutions per upstream call.',
  labelNames: ['provider'] as const,
  registers: [registry],
});

export const redisUp = new Gauge({
  name: 'users_subgraph_redis_up',
  help: 'Whether Redis (REDIS_URL) answers: 1 shared across replicas, 0 serving from this process alone. Always 0 without REDIS_URL.',
  registers: [registry],
});

export const redisFallbacks = new Counter({
  name: 'users_subgraph_redis_fallbacks_total',
  help: "Calls of a shared state (use: record-cache, fetch-claims, rate-budget, pacing, tokens) answered from this process's memory instead of Redis, and why: down (the link is lost), backoff (the use left Redis alone after a failure), timeout, refused (a Redis error reply, e.g. OOM or READONLY) or failed (anything else, e.g. an answer of the wrong shape).",
  labelNames: ['use', 'reason'] as const,
  registers: [registry],
});

/** What the in-memory record cache holds, read when /metrics is scraped (`observeMemoryCache`). */
let memoryCacheSize: (() => { entries: number; bytes: number }) | undefined;

export const memoryCacheBytes = new Gauge({
  name: 'users_subgraph_cache_memory_bytes',
  help: 'Bytes the in-memory record cache counts against CACHE_MAX_BYTES: its slabs (off the V8 heap) and its index. With Redis, only what this process kept while Redis was lost.',
  registers: [registry],
  collect() {
    this.set(memoryCacheSize?.().bytes ?? 0);
  },
});

export const memoryCacheEntries = new Gauge({
  name: 'users_subgraph_cache_memory_entries',
  help: 'Entries the in-memory record cache holds.',
  registers: [registry],
  collect() {
    this.set(memoryCacheSize?.().entries ?? 0);
  },
});

/** Names the in-memory record cache whose size /metrics shows. */
export function observeMemoryCache(size: () => { entries: number; bytes: number }): void {
  memoryCacheSize = size;
}

export function countUpstreamRequest(provider: ProviderId, method: string, status: number | 'error' | 'aborted'): void {
  upstreamRequests.inc({ provider: provider.name, method, status: String(status) });
}

/**
 * Starts each provider's per-provider series at zero, so that `/metrics` lists every provider of the
 * registry before its first call (a dashboard then sees 0, not a missing series).
 */
export function initProviderMetrics(providerNames: readonly string[]): void {
  for (const provider of providerNames) {
    upstreamBatchSize.zero({ provider });
    resolutions.inc({ provider }, 0);
    coalescedIds.inc({ provider }, 0);
    for (const result of ['hit', 'miss', 'stale']) cacheRequests.inc({ provider, result }, 0);
  }
}
