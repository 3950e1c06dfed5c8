import type { ProviderDefinition } from '../provider.js';
import { nexudusUsers } from './batch.js';
import { NexudusClient } from './client.js';
import { type NexudusConfig, nexudusConfig } from './config.js';
import { NEXUDUS } from './id.js';
import { nexudusResolvers } from './resolvers.js';

/** Nexudus (coworking spaces): users by id, partial records from the list call or full records one by one. */
export const nexudusProvider: ProviderDefinition<'nexudus', NexudusConfig, NexudusClient, never, typeof import('./emulator/index.js')> = {
  id: NEXUDUS,
  config: () => nexudusConfig,
  createClient: (config, { upstream, logger, clock, circuits, shared }) =>
    new NexudusClient({ config, upstream, logger, clock, circuits, shared }),
  closeClient: (client) => client.close(),
  lookups: [nexudusUsers],
  resolvers: nexudusResolvers,
  idArguments: [{ field: 'nexudusUsers', argument: 'ids', lookup: nexudusUsers }],
  emulator: () => import('./emulator/index.js'),
  // the members of a space: a change shows within ten minutes.
  cacheTtlSeconds: 600,
};
