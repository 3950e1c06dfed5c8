import type { Logger } from 'pino';
import type { Config } from './config.js';
import { startDemo } from './demo.js';
import type { Services } from './context.js';
import { closeServices, createServices } from './services.js';
import { startServer, type RunningServer } from './server.js';

/**
 * The whole subgraph, assembled from a configuration: the demo's emulators when asked for, one
 * client per configured provider, and the HTTP server. `close()` takes it down in the reverse order.
 */
export interface App {
  url: string;
  server: RunningServer;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Clients to use instead of those the configuration makes (tests use the emulators through this). */
  services?: Partial<Services>;
}

export async function startApp(config: Config, logger: Logger, options: StartOptions = {}): Promise<App> {
  const demo = config.demo ? await startDemo(config, logger) : undefined;
  const effective = demo?.config ?? config;
  const services: Services = { ...(demo?.services ?? (await createServices(effective, logger))), ...options.services };
  const unconfigured = [
    services.x === undefined && 'x',
    services.telegram === undefined && 'telegram',
    services.bitrix24.portals.size === 0 && 'bitrix24',
    services.nexudus === undefined && 'nexudus',
  ].filter(Boolean);
  for (const provider of unconfigured) logger.warn({ provider }, 'provider not configured: its fields answer PROVIDER_NOT_CONFIGURED');
  const server = await startServer(effective, services, logger);
  logger.info({ endpoint: `${server.url}/graphql` }, 'users-subgraph ready');
  return {
    url: server.url,
    server,
    async close() {
      await server.close();
      await closeServices(services);
      await demo?.close();
    },
  };
}
