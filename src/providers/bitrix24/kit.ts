import type { ProviderKit } from '../kit.js';
import { bitrix24Conformance } from './conformance.js';
import { start } from './emulator/index.js';
import { bitrix24Provider } from './index.js';

/** Bitrix24's test kit: its emulator (one fake portal per name, on loopback) and its conformance data. */
export const bitrix24Kit = {
  name: 'bitrix24' as const,
  provider: bitrix24Provider,
  start,
  conformance: bitrix24Conformance,
} satisfies ProviderKit<Parameters<typeof start>[1], Awaited<ReturnType<typeof start>>['handle']>;
