import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Services } from './context.js';
import { connectTelegram } from './providers/telegram/connect.js';
import { XClient } from './providers/x/client.js';

/** One long-lived client per configured provider; `undefined` for a provider without credentials. */
export function createServices(config: Config, logger: Logger): Services {
  const { timeoutMs, connections, retry } = config.upstream;
  return {
    x: config.x && new XClient({ ...config.x, timeoutMs, connections, retry, logger: logger.child({ provider: 'x' }) }),
    telegram:
      config.telegram && connectTelegram(config.telegram, config.telegramLimits, config.upstream, logger.child({ provider: 'telegram' })),
  };
}
