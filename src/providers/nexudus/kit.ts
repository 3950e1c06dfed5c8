import type { ProviderKit } from '../kit.js';
import { start } from './emulator/index.js';
import { nexudusProvider } from './index.js';

/** Nexudus's test kit: its emulator (a real HTTP server on loopback). */
export const nexudusKit = { name: 'nexudus' as const, provider: nexudusProvider, start } satisfies ProviderKit<Parameters<typeof start>[1]>;
