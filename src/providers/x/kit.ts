import type { ProviderKit } from '../kit.js';
import { start } from './emulator/index.js';
import { xProvider } from './index.js';

/** X's test kit: its emulator (a real HTTP server on loopback). */
export const xKit = { name: 'x' as const, provider: xProvider, start } satisfies ProviderKit<Parameters<typeof start>[1]>;
