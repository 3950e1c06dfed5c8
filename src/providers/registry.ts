import { bitrix24Provider } from './bitrix24/index.js';
import { nexudusProvider } from './nexudus/index.js';
import { telegramProvider } from './telegram/index.js';
import { xProvider } from './x/index.js';

/**
 * The providers this subgraph serves, in the order they are configured, started and listed. Adding a
 * provider is one line here, its folder, and its schema file (README, "Adding a provider").
 */
export const providers = [xProvider, telegramProvider, bitrix24Provider, nexudusProvider] as const;

/** The `provider` label of every metric and the `extensions.provider` of every error. */
export type ProviderName = (typeof providers)[number]['id']['name'];
