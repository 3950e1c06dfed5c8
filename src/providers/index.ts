import type { Resolvers } from '../generated/resolvers-types.js';
import type { IdArgument } from '../guard/input-guard.js';
import { bitrix24IdArguments } from './bitrix24/inputs.js';
import { bitrix24Resolvers } from './bitrix24/resolvers.js';
import { nexudusIdArguments } from './nexudus/inputs.js';
import { nexudusResolvers } from './nexudus/resolvers.js';
import { telegramIdArguments } from './telegram/inputs.js';
import { telegramResolvers } from './telegram/resolvers.js';
import { xIdArguments } from './x/inputs.js';
import { xResolvers } from './x/resolvers.js';

/**
 * The providers this subgraph serves: their resolvers and the root-field arguments the input guard
 * checks. Adding a provider adds one entry here (and its schema file, and its client in `app.ts`).
 */
export interface ProviderModule {
  resolvers: Resolvers;
  idArguments: readonly IdArgument[];
}

export const providers: readonly ProviderModule[] = [
  { resolvers: xResolvers, idArguments: xIdArguments },
  { resolvers: telegramResolvers, idArguments: telegramIdArguments },
  { resolvers: bitrix24Resolvers, idArguments: bitrix24IdArguments },
  { resolvers: nexudusResolvers, idArguments: nexudusIdArguments },
];
