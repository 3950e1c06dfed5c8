import { defineProvider } from '../provider.js';
import { bindXLookups, xTweets, xUsers, xUsersByUsername } from './batch.js';
import { xCallerCredentials } from './caller-credentials.js';
import { XClient } from './client.js';
import { xConfig } from './config.js';
import { X } from './id.js';
import { xResolvers } from './resolvers.js';

/** X API v2: users by id and by username, and posts (`pinnedTweet`, `XTweet` entities). */
export const xProvider = defineProvider({
  id: X,
  config: () => xConfig,
  createClient: (config, { upstream, logger, clock, circuits, shared }) =>
    new XClient({
      ...config,
      timeoutMs: upstream.timeoutMs,
      connections: upstream.connections,
      retry: upstream.retry,
      logger,
      clock,
      circuit: circuits.create(X),
      budgets: shared.rateBudget(),
      shared,
    }),
  closeClient: (client) => client.close(),
  bind: bindXLookups,
  lookups: [xUsers, xUsersByUsername, xTweets],
  resolvers: xResolvers,
  idArguments: [
    { field: 'xUsers', argument: 'ids', lookup: xUsers },
    { field: 'xUsersByUsername', argument: 'usernames', lookup: xUsersByUsername },
  ],
  // X profiles change rarely, and every call is precious (300 per 15 minutes).
  cacheTtlSeconds: 900,
  callerCredentials: xCallerCredentials,
});
