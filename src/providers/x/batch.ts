import type { Logger } from 'pino';
import { attribute } from '../../core/attribution.js';
import { ProviderError } from '../../core/errors.js';
import { type FetchScope, Lookup, type Runtime } from '../../core/lookup.js';
import type { FieldSet } from '../../core/types.js';
import type { XClient } from './client.js';
import { X } from './id.js';
import { FULL_X_PLAN, planXFields, tweetFieldSet, userFieldSet } from './plan.js';
import { isXId, X_MAX_IDS_PER_CALL, X_USERNAME_PATTERN, XApiTweet, XApiUser, type XLookupResponse, type XProblem } from './wire.js';

/**
 * X's three lookups. They feed each other so that nothing is fetched twice: a user lookup's expanded
 * tweets (`includes.tweets`) are handed to `xTweets`, a tweet lookup's expanded authors to `xUsers`,
 * and users found by username to `xUsers` too.
 */
const userId = { isValid: isXId, expected: 'an X user id (a decimal number from 1 to 2^63-1, without leading zeros)' };

export const xUsers = new Lookup<XApiUser>({
  provider: X,
  name: 'users',
  type: 'XUser',
  key: userId,
  fields: (selected) => userFieldSet(selected ? planXFields(selected) : FULL_X_PLAN),
  recordFields: (fields) => parametersOf(fields, 'user.fields'),
  // Evicting a user by id evicts the entry under the username it had too (a renamed user's old name).
  aliases: (record) => aliasOf(record, 'username', 'usersByUsername', (name) => name.toLowerCase()),
  keyOf: (record) => stringAt(record, 'id'),
  isRecord: (record) => XApiUser.safeParse(record).success,
});

export const xUsersByUsername = new Lookup<XApiUser>({
  provider: X,
  name: 'usersByUsername',
  type: 'XUser',
  key: {
    isValid: (name) => X_USERNAME_PATTERN.test(name),
    expected: 'an X username (1-15 letters, digits or _)',
    normalize: (name) => name.toLowerCase(),
  },
  fields: (selected) => userFieldSet(selected ? planXFields(selected) : FULL_X_PLAN),
  recordFields: (fields) => parametersOf(fields, 'user.fields'),
  aliases: (record) => aliasOf(record, 'id', 'users', (id) => id),
  keyOf: (record) => stringAt(record, 'username')?.toLowerCase(),
  isRecord: (record) => XApiUser.safeParse(record).success,
});

export const xTweets = new Lookup<XApiTweet>({
  provider: X,
  name: 'tweets',
  type: 'XTweet',
  key: { isValid: isXId, expected: 'an X post id (a decimal number from 1 to 2^63-1, without leading zeros)' },
  fields: (selected) => tweetFieldSet(selected ? planXFields(selected) : FULL_X_PLAN),
  recordFields: (fields) => parametersOf(fields, 'tweet.fields'),
  keyOf: (record) => stringAt(record, 'id'),
  isRecord: (record) => XApiTweet.safeParse(record).success,
});

/** The key a cached X user has in another lookup, read defensively from what the cache holds. */
function aliasOf(record: unknown, property: 'id' | 'username', lookup: string, normalize: (value: string) => string) {
  const value = stringAt(record, property);
  return value === undefined ? [] : [{ lookup, key: normalize(value) }];
}

/** A string property of what the cache holds, read defensively; undefined for anything else. */
function stringAt(record: unknown, property: 'id' | 'username'): string | undefined {
  const value = record !== null && typeof record === 'object' ? (record as Record<string, unknown>)[property] : undefined;
  return typeof value === 'string' ? value : undefined;
}

/** X's lookups made with `client`, in `runtime`: each one HTTP request for up to 100 keys. */
export function bindXLookups(client: XClient, runtime: Runtime): void {
  xUsers.bind(runtime, {
    maxBatchSize: X_MAX_IDS_PER_CALL,
    budget: (scope) => client.budgetOf('GET /2/users', scope),
    async fetch(ids, scope) {
      const response = await client.usersByIds(ids, scope.fields, scope.signal, scope.credential);
      primeIncludedTweets(response, scope);
      return indexUsers(ids, response, (user) => user.id, 'GET /2/users', scope.logger);
    },
  });
  xUsersByUsername.bind(runtime, {
    maxBatchSize: X_MAX_IDS_PER_CALL,
    budget: (scope) => client.budgetOf('GET /2/users/by', scope),
    async fetch(usernames, scope) {
      const response = await client.usersByUsernames(usernames, scope.fields, scope.signal, scope.credential);
      primeIncludedTweets(response, scope);
      // The same parameters as `GET /2/users` would have sent: cached as the user lookup's records.
      for (const user of response.data ?? []) scope.prime(xUsers, user.id, user, scope.fields);
      const asked = usernames.map((username) => username.toLowerCase());
      return indexUsers(asked, response, (user) => user.username.toLowerCase(), 'GET /2/users/by', scope.logger);
    },
  });
  xTweets.bind(runtime, {
    maxBatchSize: X_MAX_IDS_PER_CALL,
    budget: (scope) => client.budgetOf('GET /2/tweets', scope),
    async fetch(ids, scope) {
      const response = await client.tweetsByIds(ids, scope.fields, scope.signal, scope.credential);
      // Expanded authors came with the call's `user.fields`, and without expansions of their own.
      const authorFields = parametersOf(scope.fields, 'user.fields');
      for (const user of response.includes?.users ?? []) scope.prime(xUsers, user.id, user, authorFields);
      const explained = new Map<string, ProviderError>();
      for (const problem of response.errors ?? []) {
        const id = problem.resource_id ?? problem.value;
        if (problem.resource_type === 'tweet' && id !== undefined) explained.set(id, problemToError(problem, id));
      }
      // A withheld post may be left out without an error: its absence is NOT_FOUND, unless X sent posts nobody asked for.
      return attribute(ids, response.data ?? [], explained, {
        provider: X,
        method: 'GET /2/tweets',
        logger: scope.logger,
        idOf: (tweet) => tweet.id,
        everyIdAnswered: false,
      });
    },
  });
}

/**
 * Users and the per-user problems of one response, keyed as the lookup keys them, each user under the id
 * (or name) it carries and only for one asked (`attribute`): X lists every key asked in `data` or `errors`.
 */
function indexUsers(
  asked: readonly string[],
  response: XLookupResponse<XApiUser>,
  keyOf: (user: XApiUser) => string,
  method: string,
  logger: Logger,
): Map<string, XApiUser | ProviderError> {
  const explained = new Map<string, ProviderError>();
  for (const problem of response.errors ?? []) {
    const value = problem.value ?? problem.resource_id;
    if (problem.resource_type !== 'user' || value === undefined) continue;
    // `value` is what was asked for (an id or a username); the lookup's key is the same, lower-cased for names.
    const key = problem.parameter === 'usernames' ? value.toLowerCase() : value;
    explained.set(key, problemToError(problem, value));
  }
  return attribute(asked, response.data ?? [], explained, { provider: X, method, logger, idOf: keyOf, everyIdAnswered: true });
}

/**
 * Expanded tweets go to the tweet lookup, so `pinnedTweet` costs no second call. An expanded id that
 * X could not return (a deleted pinned tweet) is handed over as its error for the same reason.
 */
function primeIncludedTweets(response: XLookupResponse<XApiUser>, { prime, fields }: FetchScope): void {
  // Expanded tweets came with the call's `tweet.fields`, and without their author expanded.
  const tweetFields = parametersOf(fields, 'tweet.fields');
  const included = new Set<string>();
  for (const tweet of response.includes?.tweets ?? []) {
    included.add(tweet.id);
    prime(xTweets, tweet.id, tweet, tweetFields);
  }
  for (const problem of response.errors ?? []) {
    const id = problem.resource_id ?? problem.value;
    if (problem.resource_type === 'tweet' && id !== undefined) prime(xTweets, id, problemToError(problem, id));
  }
  for (const user of response.data ?? []) {
    for (const id of [user.pinned_tweet_id, user.most_recent_tweet_id]) {
      // Asked-for expansions that came back neither as a tweet nor as an error: X withheld them.
      if (id !== undefined && !included.has(id)) prime(xTweets, id, new ProviderError({ code: 'NOT_FOUND', provider: X, id }));
    }
  }
}

/** The entries of a field set that set one query parameter (`user.fields=…`): what an expansion was fetched with. */
function parametersOf(fields: FieldSet, parameter: string): FieldSet {
  return fields.filter((field) => field.startsWith(`${parameter}=`));
}

function problemToError(problem: XProblem, id: string): ProviderError {
  const suspended = problem.title === 'Forbidden' || /suspended/i.test(problem.detail ?? '');
  return new ProviderError({ code: suspended ? 'SUSPENDED' : 'NOT_FOUND', provider: X, id });
}
