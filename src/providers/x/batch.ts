import type DataLoader from 'dataloader';
import type { Logger } from 'pino';
import { createBatchLoader } from '../../batching/batch-loader.js';
import { ProviderError } from '../../upstream/errors.js';
import type { XClient } from './client.js';
import type { XFieldPlan } from './plan.js';
import { X_MAX_IDS_PER_CALL, type XApiTweet, type XApiUser, type XLookupResponse, type XProblem } from './wire.js';

/**
 * The three X lookups of one request. They feed each other so that nothing is fetched twice:
 * a user lookup's expanded tweets (`includes.tweets`) are primed into `tweetsById`, a tweet lookup's
 * expanded authors into `usersById`, and users found by username into `usersById` too.
 */
export interface XLoaders {
  usersById: DataLoader<string, XApiUser, string>;
  usersByUsername: DataLoader<string, XApiUser, string>;
  tweetsById: DataLoader<string, XApiTweet, string>;
}

export function createXLoaders(client: XClient, plan: () => XFieldPlan, logger: Logger): XLoaders {
  const loaders: XLoaders = {
    usersById: createBatchLoader<XApiUser>({
      provider: 'x',
      maxBatchSize: X_MAX_IDS_PER_CALL,
      logger,
      fetch: async (ids) => {
        const response = await client.usersByIds(ids, plan());
        primeIncludes(loaders, response);
        return indexUsers(response, (user) => user.id);
      },
    }),
    usersByUsername: createBatchLoader<XApiUser>({
      provider: 'x',
      maxBatchSize: X_MAX_IDS_PER_CALL,
      logger,
      cacheKey: (username) => username.toLowerCase(),
      fetch: async (usernames) => {
        const response = await client.usersByUsernames(usernames, plan());
        primeIncludes(loaders, response);
        for (const user of response.data ?? []) loaders.usersById.prime(user.id, user);
        return indexUsers(response, (user) => user.username.toLowerCase());
      },
    }),
    tweetsById: createBatchLoader<XApiTweet>({
      provider: 'x',
      maxBatchSize: X_MAX_IDS_PER_CALL,
      logger,
      fetch: async (ids) => {
        const response = await client.tweetsByIds(ids, plan());
        for (const user of response.includes?.users ?? []) loaders.usersById.prime(user.id, user);
        const found = new Map<string, XApiTweet | ProviderError>();
        for (const tweet of response.data ?? []) found.set(tweet.id, tweet);
        for (const problem of response.errors ?? []) {
          const id = problem.resource_id ?? problem.value;
          if (problem.resource_type === 'tweet' && id !== undefined) found.set(id, problemToError(problem, id));
        }
        return found;
      },
    }),
  };
  return loaders;
}

/** Users and the per-user problems of one response, keyed as the loader keys them. */
function indexUsers(
  response: XLookupResponse<XApiUser>,
  keyOf: (user: XApiUser) => string,
): Map<string, XApiUser | ProviderError> {
  const found = new Map<string, XApiUser | ProviderError>();
  for (const user of response.data ?? []) found.set(keyOf(user), user);
  for (const problem of response.errors ?? []) {
    const value = problem.value ?? problem.resource_id;
    if (problem.resource_type !== 'user' || value === undefined) continue;
    // `value` is what was asked for (an id or a username); the loader's key is the same, lower-cased for names.
    const key = problem.parameter === 'usernames' ? value.toLowerCase() : value;
    found.set(key, problemToError(problem, value));
  }
  return found;
}

/**
 * Expanded tweets go into the tweet loader, so `pinnedTweet` costs no second call. An expanded id
 * that X could not return (a deleted pinned tweet) is primed as its error for the same reason.
 */
function primeIncludes(loaders: XLoaders, response: XLookupResponse<XApiUser>): void {
  const included = new Set<string>();
  for (const tweet of response.includes?.tweets ?? []) {
    included.add(tweet.id);
    loaders.tweetsById.prime(tweet.id, tweet);
  }
  for (const problem of response.errors ?? []) {
    const id = problem.resource_id ?? problem.value;
    if (problem.resource_type === 'tweet' && id !== undefined) loaders.tweetsById.prime(id, problemToError(problem, id));
  }
  for (const user of response.data ?? []) {
    for (const id of [user.pinned_tweet_id, user.most_recent_tweet_id]) {
      // Asked-for expansions that came back neither as a tweet nor as an error: X withheld them.
      if (id !== undefined && !included.has(id)) {
        loaders.tweetsById.prime(id, new ProviderError({ code: 'NOT_FOUND', provider: 'x', id }));
      }
    }
  }
}

function problemToError(problem: XProblem, id: string): ProviderError {
  const suspended = problem.title === 'Forbidden' || /suspended/i.test(problem.detail ?? '');
  return new ProviderError({ code: suspended ? 'SUSPENDED' : 'NOT_FOUND', provider: 'x', id });
}
