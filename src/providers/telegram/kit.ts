import type { ProviderKit } from '../kit.js';
import { start } from './emulator/index.js';
import { telegramProvider } from './index.js';

/** Telegram's test kit: its emulator (in process, handed to the provider as its transport). */
export const telegramKit = { name: 'telegram' as const, provider: telegramProvider, start } satisfies ProviderKit<
  Parameters<typeof start>[1]
>;
