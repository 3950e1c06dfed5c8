import { defineProvider } from '../provider.js';
import { bindNexudusLookups, nexudusUsers } from './batch.js';
import { NexudusClient } from './client.js';
import { nexudusConfig } from './config.js';
import { NEXUDUS } from './id.js';
import { nexudusResolvers } from './resolvers.js';

/** Nexudus (coworking spaces): users by id, partial records from the list call or full records one by one. */
export const nexudusProvider = defineProvider({
  id: NEXUDUS,
  config: () => nexudusConfig,
  createClient: (config, { upstream, logger, clock, circuits, shared }) =>
    new NexudusClient({ config, upstream, logger, clock, circuits, shared }),
  closeClient: (client) => client.close(),
  bind: bindNexudusLookups,
  lookups: [nexudusUsers],
  resolvers: nexudusResolvers,
  idArguments: [{ field: 'nexudusUsers', argument: 'ids', lookup: nexudusUsers }],
  // the members of a space: a change shows within ten minutes.
  cacheTtlSeconds: 600,
});
