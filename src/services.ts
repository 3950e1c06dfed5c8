import type { Logger } from 'pino';
import type { ProviderSetup, UpstreamSettings } from './config.js';
import type { Clients } from './context.js';
import type { RedisLink } from './redis/link.js';
import { Circuits } from './upstream/circuit.js';
import { type Clock, systemClock } from './upstream/clock.js';
import { sharedState } from './upstream/shared-state.js';

/** The long-lived clients of the configured providers, their circuits, and how to close them all. */
export interface RunningClients {
  clients: Clients;
  circuits: Circuits;
  close(): Promise<void>;
}

/**
 * One client per configured provider, made by the provider itself. `transports` stand in for the
 * network where an emulator runs in process (one that speaks no HTTP).
 */
export async function createClients(
  setups: readonly ProviderSetup[],
  upstream: UpstreamSettings,
  logger: Logger,
  transports: ReadonlyMap<string, unknown> = new Map(),
  clock: Clock = systemClock,
  redis?: RedisLink,
): Promise<RunningClients> {
  const circuits = new Circuits(upstream.circuit, logger);
  // What replicas share (pacing, budgets, tokens): in Redis when there is one; a provider never sees which.
  const shared = sharedState(redis, upstream, clock, logger);
  const clients = new Map<string, unknown>();
  const closers: Array<() => Promise<void>> = [];
  const close = () => Promise.all(closers.map((closeOne) => closeOne())).then(() => undefined);
  try {
    for (const { definition, config } of setups) {
      const name = definition.id.name;
      const client = await definition.createClient(config, {
        upstream,
        logger: logger.child({ provider: name }),
        clock,
        circuits,
        shared,
        transport: transports.get(name),
      });
      clients.set(name, client);
      closers.push(() => definition.closeClient(client));
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { clients, circuits, close };
}
