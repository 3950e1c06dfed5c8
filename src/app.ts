import type { Logger } from 'pino';
import type { Config } from './config.js';
import { startDemo } from './demo.js';
import { providers } from './providers/registry.js';
import { type RunningServer, startServer } from './server.js';
import { createClients } from './services.js';
import type { Clock } from './upstream/clock.js';
import { initProviderMetrics } from './upstream/metrics.js';

/**
 * The whole subgraph, assembled from a configuration: the demo's emulators when asked for, one
 * client per configured provider, and the HTTP server. `close()` takes it down in the reverse order.
 */
export interface App {
  url: string;
  server: RunningServer;
  /** Drains and stops (README, "HTTP endpoints"); resolves whether every request finished by itself. */
  close(): Promise<{ drained: boolean }>;
}

export interface StartOptions {
  /** Transports of in-process emulators, by provider name (tests). */
  transports?: ReadonlyMap<string, unknown>;
  /** What the providers' clients time their waits, pacing and tokens on (tests move a manual one). */
  clock?: Clock;
}

export async function startApp(config: Config, logger: Logger, options: StartOptions = {}): Promise<App> {
  const demo = config.demo ? await startDemo(logger) : undefined;
  const setups = demo?.setups ?? config.providers;
  const running = await createClients(setups, config.upstream, logger, demo?.transports ?? options.transports, options.clock);
  for (const provider of providers) {
    if (!running.clients.has(provider.id.name)) {
      logger.warn({ provider: provider.id.name }, 'provider not configured: its fields answer PROVIDER_NOT_CONFIGURED');
    }
  }
  initProviderMetrics(providers.map((provider) => provider.id.name));
  const server = await startServer(config, running.clients, logger, running.circuits);
  logger.info({ endpoint: `${server.url}/graphql` }, 'users-subgraph ready');
  return {
    url: server.url,
    server,
    async close() {
      const outcome = await server.close(config.shutdownGraceMs);
      await running.close();
      await demo?.close();
      return outcome;
    },
  };
}
