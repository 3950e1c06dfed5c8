import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { createServices } from './services.js';
import type { Services } from './context.js';
import { startXEmulator } from './providers/x/emulator.js';
import { startBitrix24Emulator } from './providers/bitrix24/emulator.js';
import { startNexudusEmulator } from './providers/nexudus/emulator.js';

/**
 * The embedded demo (contract.md): the built-in emulators of the upstream APIs, started in-process
 * on loopback, with the configuration pointed at them. Each knows users 1-10000. The credentials are
 * made up per process and exist only between this process and its own emulators.
 */
export interface Demo {
  config: Config;
  services: Services;
  close(): Promise<void>;
}

export async function startDemo(config: Config, logger: Logger): Promise<Demo> {
  const bearerToken = randomBytes(24).toString('base64url');
  // X's real budget (300 calls / 15 min) would end a demo session early; the demo allows 100 times that.
  const x = await startXEmulator({
    bearerToken,
    rateLimit: { limit: 30_000, windowSeconds: 900 },
    recordRequests: false,
    memoizeBodies: true,
  });
  // Telegram speaks MTProto, not HTTP: its emulator answers RPCs in-process, as a bot that may use
  // access_hash 0, with mtcute's real (in-memory) peer cache behind it.
  const { telegramClient } = await import('./providers/telegram/connect.js');
  const { TelegramEmulator, createEmulatedTelegramClient } = await import('./providers/telegram/emulator.js');
  const telegramRpc = createEmulatedTelegramClient(new TelegramEmulator({ recordRpcs: false }));
  const telegram = telegramClient(telegramRpc, {
    isBot: true,
    limits: config.telegramLimits,
    upstream: config.upstream,
    logger: logger.child({ provider: 'telegram' }),
    close: () => telegramRpc.destroy(),
  });
  // Bitrix24: a strict fake portal reached through an incoming webhook, as most installations are.
  const bitrix24 = await startBitrix24Emulator({
    webhook: { userId: 1, secret: randomBytes(12).toString('hex') },
    recordRequests: false,
  });
  // Nexudus: a password grant against the emulator's token endpoint, partial and full records, 409 pacing.
  const nexudusLogin = { username: 'demo@coworking.example', password: randomBytes(12).toString('base64url') };
  const nexudus = await startNexudusEmulator({ ...nexudusLogin, recordRequests: false });
  const demoConfig: Config = {
    ...config,
    x: { bearerToken, baseUrl: x.url },
    telegram: undefined,
    bitrix24: {
      ...config.bitrix24,
      portals: [
        {
          name: 'demo.bitrix24.local',
          access: { kind: 'webhook', webhookUrl: bitrix24.webhookUrl! },
          rate: { perSecond: 2, burst: 50 }, // the portal's own leaky bucket, as on Bitrix24
        },
      ],
    },
    nexudus: { baseUrl: nexudus.url, credentials: { kind: 'password', ...nexudusLogin } },
  };
  const { x: xClient, bitrix24: bitrix24Portals, nexudus: nexudusClient } = await createServices(demoConfig, logger);
  logger.info(
    { providers: { x: x.url, telegram: 'in-process', bitrix24: bitrix24.url, nexudus: nexudus.url } },
    'DEMO MODE: no provider credentials are set (or DEMO=1), so this subgraph serves built-in emulators ' +
      'of the upstream APIs on loopback; every provider knows the users with ids 1-10000',
  );
  return {
    config: demoConfig,
    services: { x: xClient, telegram, bitrix24: bitrix24Portals, nexudus: nexudusClient },
    close: async () => {
      await Promise.all([x.close(), bitrix24.close(), nexudus.close()]);
    },
  };
}
