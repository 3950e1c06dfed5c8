/**
 * The subgraph as `npm start` runs it (its sources, through tsx), plus Telegram's emulator in this process:
 * Telegram speaks MTProto through an in-process transport, so the mixed four-provider scenario of
 * `npm run bench` runs here, and the CPU read for this process includes Telegram's emulator answering.
 * The other providers' variables come from the environment (bench/upstreams.ts).
 */
import { startApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { providers } from '../src/providers/registry.js';
import { start as startTelegram } from '../src/providers/telegram/emulator/index.js';

const telegram = await startTelegram('demo');
const config = loadConfig(providers, { ...process.env, ...telegram.env });
const logger = createLogger(config.logLevel);
const app = await startApp(config, logger, { transports: new Map([['telegram', telegram.transport]]) });
process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
