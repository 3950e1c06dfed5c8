import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Services } from './context.js';
import { Bitrix24Portal } from './providers/bitrix24/client.js';
import { NexudusClient } from './providers/nexudus/client.js';
import { XClient } from './providers/x/client.js';

/**
 * One long-lived client per configured provider (per portal for Bitrix24); `undefined` or empty when
 * not configured. mtcute is loaded only when Telegram is configured: it weighs ~50 MiB of memory.
 */
export async function createServices(config: Config, logger: Logger): Promise<Services> {
  const { timeoutMs, connections, retry } = config.upstream;
  const connectTelegram = config.telegram && (await import('./providers/telegram/connect.js')).connectTelegram;
  return {
    x: config.x && new XClient({ ...config.x, timeoutMs, connections, retry, logger: logger.child({ provider: 'x' }) }),
    telegram:
      config.telegram &&
      connectTelegram?.(config.telegram, config.telegramLimits, config.upstream, logger.child({ provider: 'telegram' })),
    bitrix24: {
      portals: new Map(
        config.bitrix24.portals.map((portal) => [
          portal.name,
          new Bitrix24Portal({ ...portal, connections, timeoutMs, retry, logger: logger.child({ provider: 'bitrix24', portal: portal.name }) }),
        ]),
      ),
      maxIdsPerCall: config.bitrix24.maxIdsPerCall,
    },
    nexudus:
      config.nexudus &&
      new NexudusClient({
        ...config.nexudus,
        ...config.nexudusLimits,
        connections,
        timeoutMs,
        retry,
        logger: logger.child({ provider: 'nexudus' }),
      }),
  };
}

/** Closes every client: pools drain, MTProto disconnects. */
export async function closeServices(services: Services): Promise<void> {
  await Promise.all([services.x?.close(), services.telegram?.close(), services.nexudus?.close(), ...[...services.bitrix24.portals.values()].map((p) => p.close())]);
}
