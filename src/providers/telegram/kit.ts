import type { ProviderKit } from '../kit.js';
import { telegramConformance } from './conformance.js';
import { start } from './emulator/index.js';
import type { TelegramEmulator } from './emulator/server.js';
import { telegramProvider } from './index.js';

/** Telegram's test kit: its emulator (in process, handed to the provider as its transport) and its conformance data. */
export const telegramKit = {
  name: 'telegram' as const,
  provider: telegramProvider,
  start,
  conformance: telegramConformance,
} satisfies ProviderKit<Parameters<typeof start>[1], TelegramEmulator>;
