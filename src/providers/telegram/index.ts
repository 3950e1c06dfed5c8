import type { ProviderDefinition } from '../provider.js';
import { telegramUsers, telegramUsersByUsername } from './batch.js';
import type { TelegramClient, TelegramTransport } from './client.js';
import { type TelegramConfig, telegramConfig } from './config.js';
import { TELEGRAM } from './id.js';
import { telegramResolvers } from './resolvers.js';

/**
 * Telegram over MTProto. mtcute is loaded only when Telegram is configured (or its emulator runs): it
 * weighs ~50 MiB of memory that a deployment without Telegram should not pay.
 */
export const telegramProvider: ProviderDefinition<
  'telegram',
  TelegramConfig,
  TelegramClient,
  TelegramTransport,
  typeof import('./emulator/index.js')
> = {
  id: TELEGRAM,
  config: telegramConfig,
  async createClient(config, { upstream, logger, clock, circuits, transport }) {
    const circuit = circuits.create(TELEGRAM);
    const { connectTelegram, telegramClient } = await import('./connect.js');
    if (transport !== undefined) return telegramClient(transport.rpc, { isBot: transport.isBot, config, upstream, logger, clock, circuit });
    return connectTelegram(config, upstream, logger, clock, circuit);
  },
  closeClient: (client) => client.close(),
  lookups: [telegramUsers, telegramUsersByUsername],
  resolvers: telegramResolvers,
  idArguments: [
    { field: 'telegramUsers', argument: 'ids', lookup: telegramUsers },
    { field: 'telegramUsers', argument: 'usernames', lookup: telegramUsersByUsername },
  ],
  emulator: () => import('./emulator/index.js'),
  // names and photos change more often than ids; presence is as of the answer.
  cacheTtlSeconds: 600,
};
