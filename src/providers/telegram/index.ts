import { defineProvider } from '../provider.js';
import { bindTelegramLookups, telegramUsers, telegramUsersByUsername } from './batch.js';
import { telegramConfig } from './config.js';
import { TELEGRAM } from './id.js';
import { telegramResolvers } from './resolvers.js';
import { isTelegramTransport } from './transport.js';

/**
 * Telegram over MTProto. mtcute is loaded only when Telegram is configured (or its emulator runs): it
 * weighs ~50 MiB of memory that a deployment without Telegram should not pay.
 */
export const telegramProvider = defineProvider({
  id: TELEGRAM,
  config: telegramConfig,
  async createClient(config, { upstream, logger, clock, circuits, transport }) {
    const circuit = circuits.create(TELEGRAM);
    const { connectTelegram, telegramClient } = await import('./connect.js');
    // An emulator in process (the demo, the tests) stands in for Telegram's servers.
    if (isTelegramTransport(transport)) {
      return telegramClient(transport.rpc, { isBot: transport.isBot, config, upstream, logger, clock, circuit });
    }
    return connectTelegram(config, upstream, logger, clock, circuit);
  },
  closeClient: (client) => client.close(),
  bind: bindTelegramLookups,
  lookups: [telegramUsers, telegramUsersByUsername],
  resolvers: telegramResolvers,
  idArguments: [
    { field: 'telegramUsers', argument: 'ids', lookup: telegramUsers },
    { field: 'telegramUsers', argument: 'usernames', lookup: telegramUsersByUsername },
  ],
  // names and photos change more often than ids; presence is as of the answer.
  cacheTtlSeconds: 600,
});
