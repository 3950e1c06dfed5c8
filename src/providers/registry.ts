import { bitrix24Provider } from './bitrix24/index.js';
import { nexudusProvider } from './nexudus/index.js';
import type { Configured, Provider } from './provider.js';
import { telegramProvider } from './telegram/index.js';
import { xProvider } from './x/index.js';

/**
 * The providers this subgraph serves, in the order they are configured, started and listed. Adding a
 * provider is one line here, one in `kits.ts`, its folder, and its schema file (docs/architecture.md, "Adding a provider").
 */
export const providers: readonly Provider[] = [xProvider, telegramProvider, bitrix24Provider, nexudusProvider];

/** A provider as the rest of the subgraph sees it (`src/providers/provider.ts`), named through the registry. */
export type { Configured, Provider };
