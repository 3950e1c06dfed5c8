import { defineProvider } from '../provider.js';
import { bindBitrix24, bitrix24Users } from './batch.js';
import { bitrix24CallerCredentials } from './caller-credentials.js';
import { Bitrix24Service } from './client.js';
import { bitrix24Config } from './config.js';
import { BITRIX24 } from './id.js';
import { bitrix24Resolvers } from './resolvers.js';

/** Bitrix24 REST (`im.user.list.get`) on one or several portals, by webhook or OAuth. */
export const bitrix24Provider = defineProvider({
  id: BITRIX24,
  config: bitrix24Config,
  createClient: (config, { upstream, logger, clock, circuits, shared }) =>
    new Bitrix24Service(config, upstream, logger, clock, circuits, shared),
  closeClient: (service) => service.close(),
  bind: bindBitrix24,
  lookups: [bitrix24Users],
  resolvers: bitrix24Resolvers,
  idArguments: [{ field: 'bitrix24Users', argument: 'ids', lookup: bitrix24Users }],
  // an intranet directory: names and positions change rarely; status and activity times age.
  cacheTtlSeconds: 600,
  callerCredentials: bitrix24CallerCredentials,
});
