import type { ITelegramStorageProvider } from '@mtcute/node';
import type { RunningEmulator } from '../../kit.js';
import type { TelegramTransport } from '../transport.js';
import { createEmulatedTelegramClient, TelegramEmulator, type TelegramEmulatorOptions } from './server.js';

export interface TelegramEmulatorStartOptions extends TelegramEmulatorOptions {
  /** Act as a bot (may use access_hash 0 for unseen users); default true. */
  isBot?: boolean;
  /** mtcute storage for the session and peer cache; in-memory unless given. */
  storage?: ITelegramStorageProvider;
}

/**
 * Telegram's emulator for the demo and the tests. Telegram speaks MTProto, not HTTP, so this one runs
 * in process: a real mtcute client whose RPCs the emulator answers, handed to the provider as its
 * transport. The variables only make the configuration complete; nothing is sent with them.
 */
export async function start(mode: 'demo' | 'test', options: TelegramEmulatorStartOptions = {}): Promise<RunningEmulator<TelegramEmulator>> {
  const emulator = new TelegramEmulator({ ...(mode === 'demo' ? { recordRpcs: false } : {}), ...options });
  const rpc = createEmulatedTelegramClient(emulator, { storage: options.storage });
  const transport: TelegramTransport = {
    isBot: options.isBot ?? true,
    rpc: { call: rpc.call.bind(rpc), prepare: () => rpc.prepare(), storage: rpc.storage, close: () => rpc.destroy() },
  };
  return {
    env: {
      TELEGRAM_API_ID: '1',
      TELEGRAM_API_HASH: '00000000000000000000000000000000',
      TELEGRAM_BOT_TOKEN: '1:emulated-bot-token-never-sent-anywhere',
    },
    transport,
    location: 'in-process',
    handle: emulator,
    reset: () => emulator.reset(),
    close: async () => {},
  };
}
