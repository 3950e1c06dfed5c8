import type { ProviderKit } from '../kit.js';
import { nexudusConformance } from './conformance.js';
import { start } from './emulator/index.js';
import type { NexudusEmulator } from './emulator/server.js';
import { nexudusProvider } from './index.js';

/** Nexudus's test kit: its emulator (a real HTTP server on loopback) and its conformance data. */
export const nexudusKit = {
  name: 'nexudus' as const,
  provider: nexudusProvider,
  start,
  conformance: nexudusConformance,
} satisfies ProviderKit<Parameters<typeof start>[1], NexudusEmulator>;
