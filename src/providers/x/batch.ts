import { ProviderError } from '../../core/errors.js';
import { type FetchScope, Lookup, type Runtime } from '../../core/lookup.js';
import type { FieldSet } from '../../core/types.js';
import type { XClient } from './client.js';
import { X } from './id.js';
import { FULL_X_PLAN, planXFields, tweetFieldSet, userFieldSet } from './plan.js';
import {
  X_ID_PATTERN,
  X_MAX_IDS_PER_CALL,
  X_USERNAME_PATTERN,
  type XApiTweet,
  type XApiUser,
  type XLookupResponse,
  type XProblem,
} from './wire.js';

/**
 * X's three lookups. They feed each other so that nothing is fetched twice: a user lookup's expanded
 * tweets (`includes.tweets`) are handed to `xTweets`, a tweet lookup's expanded authors to `xUsers`,
 * and users found by username to `xUsers` too.
 */
const userId = { isValid: (id: string) => X_ID_PATTERN.test(id), expected: 'an X user id (1-19 digits)' };

export const xUsers = new Lookup<XApiUser>({
  provider: X,
  name: 'users',
  type: 'XUser',
  key: userId,
  fields: (selected) => userFieldSet(selected ? planXFields(selected) : FULL_X_PLAN),
  recordFields: (fields) => parametersOf(fields, 'user.fields'),
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
});

export const xTweets = new Lookup<XApiTweet>({
  provider: X,
  name: 'tweets',
  type: 'Tweet',
  key: { isValid: (id) => X_ID_PATTERN.test(id), expected: 'an X post id (1-19 digits)' },
  fields: (selected) => tweetFieldSet(selected ? planXFields(selected) : FULL_X_PLAN),
  recordFields: (fields) => parametersOf(fields, 'tweet.fields'),
});

/** X's lookups made with `client`, in `runtime`: each one HTTP request for up to 100 keys. */
export function bindXLookups(client: XClient, runtime: Runtime): void {
  xUsers.bind(runtime, {
    maxBatchSize: X_MAX_IDS_PER_CALL,
    budget: (scope) => client.budgetOf('GET /2/users', scope),
    async fetch(ids, scope) {
      const response = await client.usersByIds(ids, scope.fields, scope.signal, scope.credential);
      primeIncludedTweets(response, scope);
      return indexUsers(response, (user) => user.id);
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
      return indexUsers(response, (user) => user.username.toLowerCase());
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
      const found = new Map<string, XApiTweet | ProviderError>();
      for (const tweet of response.data ?? []) found.set(tweet.id, tweet);
      for (const problem of response.errors ?? []) {
        const id = problem.resource_id ?? problem.value;
        if (problem.resource_type === 'tweet' && id !== undefined) found.set(id, problemToError(problem, id));
      }
      return found;
    },
  });
}

/** Users and the per-user problems of one response, keyed as the lookup keys them. */
function indexUsers(response: XLookupResponse<XApiUser>, keyOf: (user: XApiUser) => string): Map<string, XApiUser | ProviderError> {
  const found = new Map<string, XApiUser | ProviderError>();
  for (const user of response.data ?? []) found.set(keyOf(user), user);
  for (const problem of response.errors ?? []) {
    const value = problem.value ?? problem.resource_id;
    if (problem.resource_type !== 'user' || value === undefined) continue;
    // `value` is what was asked for (an id or a username); the lookup's key is the same, lower-cased for names.
    const key = problem.parameter === 'usernames' ? value.toLowerCase() : value;
    found.set(key, problemToError(problem, value));
  }
  return found;
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
