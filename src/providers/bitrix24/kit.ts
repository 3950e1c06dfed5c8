import type { ProviderKit } from '../kit.js';
import { start } from './emulator/index.js';
import { bitrix24Provider } from './index.js';

/** Bitrix24's test kit: its emulator (one fake portal per name, on loopback). */
export const bitrix24Kit = { name: 'bitrix24' as const, provider: bitrix24Provider, start } satisfies ProviderKit<
  Parameters<typeof start>[1]
>;
