import type { ProviderKit } from '../kit.js';
import { xConformance } from './conformance.js';
import { start } from './emulator/index.js';
import type { XEmulator } from './emulator/server.js';
import { xProvider } from './index.js';

/** X's test kit: its emulator (a real HTTP server on loopback) and its conformance data. */
export const xKit = { name: 'x' as const, provider: xProvider, start, conformance: xConformance } satisfies ProviderKit<
  Parameters<typeof start>[1],
  XEmulator
>;
