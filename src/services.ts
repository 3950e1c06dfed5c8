import type { Logger } from 'pino';
import type { ProviderSetup } from './config.js';
import type { Clock } from './core/clock.js';
import { systemClock } from './core/clock.js';
import { Runtime } from './core/lookup.js';
import type { UpstreamSettings } from './core/settings.js';
import type { RedisLink } from './redis/link.js';
import { observeBudgets } from './telemetry/metrics.js';
import { Circuits } from './upstream/circuit.js';
import type { BudgetReading } from './upstream/shared-state.js';
import { sharedState } from './upstream/shared-state.js';

/** The configured providers, started: their lookups bound in `runtime`, their circuits, and how to stop them. */
export interface RunningClients {
  runtime: Runtime;
  /** The names of the providers that started. */
  started: ReadonlySet<string>;
  circuits: Circuits;
  /** The upstream windows of the server's own credentials as the budget planner knows them, now (`/ready`, `/metrics`). */
  budgets(): Promise<BudgetReading[]>;
  close(): Promise<void>;
}

/**
 * Starts each configured provider: its client made, its lookups bound to it in one `Runtime`. `transports`
 * stand in for the network where an emulator runs in process (one that speaks no HTTP).
 */
export async function createClients(
  setups: readonly ProviderSetup[],
  upstream: UpstreamSettings,
  logger: Logger,
  transports: ReadonlyMap<string, unknown> = new Map(),
  clock: Clock = systemClock,
  redis?: RedisLink,
): Promise<RunningClients> {
  const runtime = new Runtime();
  const circuits = new Circuits(upstream.circuit, logger);
  // What replicas share (pacing, budgets, tokens): in Redis when there is one; a provider never sees which.
  const shared = sharedState(redis, upstream, clock, logger);
  const started = new Set<string>();
  const budgets = () => shared.budgets();
  // users_subgraph_upstream_budget_remaining reads them at each scrape, while the clients run.
  const unobserve = observeBudgets(budgets);
  const closers: Array<() => Promise<void>> = [async () => unobserve()];
  const close = () => Promise.all(closers.map((closeOne) => closeOne())).then(() => undefined);
  try {
    for (const { provider, configured } of setups) {
      const name = provider.id.name;
      const running = await configured.start(
        { upstream, logger: logger.child({ provider: name }), clock, circuits, shared, transport: transports.get(name) },
        runtime,
      );
      started.add(name);
      closers.push(() => running.close());
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { runtime, started, circuits, budgets, close };
}
