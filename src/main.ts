import { startApp } from './app.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { providers } from './providers/registry.js';
import { startTracing } from './telemetry/tracing.js';

/** `npm start`: configuration from the environment, then the app, until SIGTERM or SIGINT. */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(providers);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  // OpenTelemetry only when the OTEL_* variables ask for it (docs/operations.md, "Tracing and logs"): else nothing is loaded.
  const tracing = await startTracing(process.env, logger);
  const app = await startApp(config, logger);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    app
      .close()
      .then(async (outcome) => {
        // The spans of the last requests are exported before the process goes.
        await tracing?.shutdown().catch(() => {});
        return outcome;
      })
      .then(
        ({ drained }) => {
          // Exit 0 only when every request in flight finished by itself within SHUTDOWN_GRACE_MS.
          logger.info({ drained }, drained ? 'stopped' : 'stopped after cancelling requests still in flight');
          process.exit(drained ? 0 : 1);
        },
        (error: unknown) => {
          logger.error({ err: error instanceof Error ? error.name : 'unknown' }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`users-subgraph failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
