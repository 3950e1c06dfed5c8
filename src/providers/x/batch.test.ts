import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../core/errors.js';
import { type FetchScope, type Lookup, type LookupCalls, Runtime } from '../../core/lookup.js';
import type { FieldSet } from '../../core/types.js';
import { bindXLookups, xTweets, xUsers, xUsersByUsername } from './batch.js';
import type { XClient } from './client.js';
import { X } from './id.js';
import type { XApiTweet, XApiUser, XLookupResponse, XProblem } from './wire.js';

/** The lookup's calls with `client`, bound as the provider binds them in a runtime of their own. */
function callsOf<R>(lookup: Lookup<R>, client: XClient): LookupCalls<R> {
  const runtime = new Runtime();
  bindXLookups(client, runtime);
  return lookup.in(runtime)!;
}

/**
 * X's three lookups against a stub client: which client call each makes, with which keys and fields,
 * and how it reads the answer — records by key, problems as per-key errors, and what it hands to the
 * other lookups (primes) so nothing is fetched twice.
 */

type Call = { method: 'usersByIds' | 'usersByUsernames' | 'tweetsByIds'; keys: string[]; fields: FieldSet };

/** A client that answers each method with the given response (or throws it) and records every call. */
function stubClient(answers: { users?: XLookupResponse<XApiUser> | Error; tweets?: XLookupResponse<XApiTweet> | Error }): {
  client: XClient;
  calls: Call[];
} {
  const calls: Call[] = [];
  const answer = async <T>(call: Call, response: T | Error | undefined): Promise<T> => {
    calls.push(call);
    if (response === undefined) throw new Error(`unexpected call ${call.method}`);
    if (response instanceof Error) throw response;
    return response;
  };
  const client = {
    usersByIds: (keys: readonly string[], fields: FieldSet) => answer({ method: 'usersByIds', keys: [...keys], fields }, answers.users),
    usersByUsernames: (keys: readonly string[], fields: FieldSet) =>
      answer({ method: 'usersByUsernames', keys: [...keys], fields }, answers.users),
    tweetsByIds: (keys: readonly string[], fields: FieldSet) => answer({ method: 'tweetsByIds', keys: [...keys], fields }, answers.tweets),
  };
  return { client: client as unknown as XClient, calls };
}

type Prime = { lookup: Lookup<unknown>; key: string; value: unknown };

function scope(fields: FieldSet = []): { scope: FetchScope; primes: Prime[] } {
  const primes: Prime[] = [];
  return {
    primes,
    scope: {
      partition: '',
      signal: new AbortController().signal,
      fields,
      logger: pino({ level: 'silent' }),
      prime: (lookup, key, value) => {
        primes.push({ lookup: lookup as Lookup<unknown>, key, value });
      },
    },
  };
}

const user = (id: string, extra: Partial<XApiUser> = {}): XApiUser => ({ id, name: `User ${id}`, username: `user${id}`, ...extra });
const tweet = (id: string, extra: Partial<XApiTweet> = {}): XApiTweet => ({ id, text: `Post ${id}`, ...extra });
const notFound = (resource_type: 'user' | 'tweet', parameter: string, value: string): XProblem => ({
  type: 'https://api.twitter.com/2/problems/resource-not-found',
  title: 'Not Found Error',
  detail: `Could not find ${resource_type} with ${parameter}: [${value}].`,
  resource_type,
  parameter,
  value,
  resource_id: value,
});
const suspended = (value: string, parameter = 'ids'): XProblem => ({
  type: 'https://api.twitter.com/2/problems/resource-not-found',
  title: 'Forbidden',
  detail: `User has been suspended: [${value}].`,
  resource_type: 'user',
  parameter,
  value,
  resource_id: value,
});

function asError(value: unknown): ProviderError {
  expect(value).toBeInstanceOf(ProviderError);
  return value as ProviderError;
}

describe('X lookups: keys', () => {
  it('takes user and post ids as X writes them: canonical decimal, 1 to 2^63-1 (issue 20: 0, 007 and beyond 2^63-1 made X refuse a shared call)', () => {
    for (const lookup of [xUsers, xTweets]) {
      for (const ok of ['1', '2244994945', '9223372036854775807', '1000000000000000000']) expect(lookup.key.isValid(ok), ok).toBe(true);
      for (const bad of ['', '0', '007', '9223372036854775808', '9'.repeat(19), '9'.repeat(20), '-1', '1.0', ' 1', '1e3', 'abc', '１'])
        expect(lookup.key.isValid(bad), bad).toBe(false);
      expect(lookup.key.normalize).toBeUndefined();
    }
    expect(xUsers.key.expected).toBe('an X user id (a decimal number from 1 to 2^63-1, without leading zeros)');
    expect(xTweets.key.expected).toBe('an X post id (a decimal number from 1 to 2^63-1, without leading zeros)');
  });

  it('takes usernames of 1-15 letters, digits or _, case-insensitively', () => {
    const { key } = xUsersByUsername;
    for (const ok of ['a', 'jack', 'Twitter_Dev', '_', 'x'.repeat(15)]) expect(key.isValid(ok), ok).toBe(true);
    for (const bad of ['', 'x'.repeat(16), '@jack', 'jack-dorsey', 'jäck', 'a b']) expect(key.isValid(bad), bad).toBe(false);
    expect(key.normalize?.('TwitterDev')).toBe('twitterdev');
    expect(key.expected).toBe('an X username (1-15 letters, digits or _)');
  });

  it('asks for at most 100 keys per call', () => {
    const { client } = stubClient({});
    for (const lookup of [xUsers, xUsersByUsername, xTweets]) expect(callsOf<unknown>(lookup, client).maxBatchSize).toBe(100);
  });
});

describe('X lookups: fields', () => {
  it('asks for nothing beyond the defaults when only id, name and username are selected', () => {
    const selected = new Set(['XUser.id', 'XUser.name', 'XUser.username']);
    expect(xUsers.fields(selected)).toEqual([]);
    expect(xUsersByUsername.fields(selected)).toEqual([]);
    expect(xTweets.fields(new Set(['XTweet.id', 'XTweet.text']))).toEqual([]);
  });

  it('asks for the user.fields the selection needs, each once', () => {
    expect(xUsers.fields(new Set(['XUser.createdAt', 'XUser.avatarUrl', 'XUser.profileImageUrl']))).toEqual([
      'user.fields=created_at',
      'user.fields=profile_image_url',
    ]);
  });

  it('expands a selected pinned post, with its tweet.fields, and asks for tweet.fields only with an expansion', () => {
    expect(xUsers.fields(new Set(['XUser.pinnedTweet', 'XTweet.createdAt', 'XTweet.text', 'XTweet.author']))).toEqual([
      'expansions=pinned_tweet_id',
      'tweet.fields=author_id',
      'tweet.fields=created_at',
      'user.fields=pinned_tweet_id',
    ]);
    expect(xUsers.fields(new Set(['XUser.createdAt', 'XTweet.createdAt']))).toEqual(['user.fields=created_at']);
  });

  it('expands a post’s author, with the user.fields, only when XTweet.author is selected', () => {
    expect(xTweets.fields(new Set(['XTweet.author', 'XTweet.lang', 'XUser.createdAt']))).toEqual([
      'expansions=author_id',
      'tweet.fields=author_id',
      'tweet.fields=lang',
      'user.fields=created_at',
    ]);
    expect(xTweets.fields(new Set(['XTweet.lang', 'XUser.createdAt']))).toEqual(['tweet.fields=lang']);
  });

  it('asks for everything it can map when there is no selection', () => {
    const all = xUsers.fields(undefined);
    expect(all).toEqual([...all].sort());
    expect(all).toEqual(
      expect.arrayContaining([
        'expansions=most_recent_tweet_id',
        'expansions=pinned_tweet_id',
        'user.fields=created_at',
        'user.fields=public_metrics',
        'user.fields=withheld',
        'tweet.fields=public_metrics',
      ]),
    );
    expect(xUsersByUsername.fields(undefined)).toEqual(all);
    expect(xTweets.fields(undefined)).toEqual(
      expect.arrayContaining(['expansions=author_id', 'tweet.fields=lang', 'user.fields=created_at']),
    );
  });
});

describe('xUsers.fetch', () => {
  it('makes one usersByIds call with the keys and fields, and keys users by id whatever the order', async () => {
    const { client, calls } = stubClient({ users: { data: [user('3'), user('1')] } });
    const { scope: s, primes } = scope(['user.fields=created_at']);
    const found = await callsOf(xUsers, client).fetch(['1', '2', '3'], s);
    expect(calls).toEqual([{ method: 'usersByIds', keys: ['1', '2', '3'], fields: ['user.fields=created_at'] }]);
    expect(found.get('1')).toEqual(user('1'));
    expect(found.get('3')).toEqual(user('3'));
    // Neither in `data` nor in `errors`: X answers every id asked, so this one it left unanswered.
    expect(asError(found.get('2'))).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', id: '2' });
    expect(primes).toEqual([]);
  });

  it('files each user under the id it carries, and only for an id asked: a record of another id answers nothing', async () => {
    const { client } = stubClient({ users: { data: [user('1'), user('7')] } });
    const found = await callsOf(xUsers, client).fetch(['1', '2'], scope().scope);
    expect(found.get('1')).toEqual(user('1'));
    expect(asError(found.get('2'))).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', id: '2' });
    expect(found.has('7')).toBe(false);
  });

  it('turns per-user problems into that id’s NOT_FOUND or SUSPENDED', async () => {
    const { client } = stubClient({ users: { data: [user('1')], errors: [notFound('user', 'ids', '2'), suspended('3')] } });
    const found = await callsOf(xUsers, client).fetch(['1', '2', '3'], scope().scope);
    const two = asError(found.get('2'));
    expect([two.code, two.id, two.provider]).toEqual(['NOT_FOUND', '2', X]);
    const three = asError(found.get('3'));
    expect([three.code, three.id]).toEqual(['SUSPENDED', '3']);
  });

  it('primes included posts, and the errors of expanded posts, into xTweets', async () => {
    const { client } = stubClient({
      users: {
        data: [user('1', { pinned_tweet_id: '100' }), user('2', { pinned_tweet_id: '200', most_recent_tweet_id: '300' })],
        includes: { tweets: [tweet('100')] },
        errors: [notFound('tweet', 'pinned_tweet_id', '200')],
      },
    });
    const { scope: s, primes } = scope(['expansions=most_recent_tweet_id', 'expansions=pinned_tweet_id']);
    const found = await callsOf(xUsers, client).fetch(['1', '2'], s);
    expect([...found.keys()].sort()).toEqual(['1', '2']); // a post's problem is not a user's

    expect(primes.every((p) => p.lookup === xTweets)).toBe(true);
    const primed = new Map(primes.map((p) => [p.key, p.value]));
    expect([...primed.keys()].sort()).toEqual(['100', '200', '300']);
    expect(primed.get('100')).toEqual(tweet('100'));
    expect(asError(primed.get('200'))).toMatchObject({ code: 'NOT_FOUND', id: '200' });
    // Asked for, and neither a post nor an error came back: withheld, so NOT_FOUND rather than a second call.
    expect(asError(primed.get('300'))).toMatchObject({ code: 'NOT_FOUND', id: '300' });
  });

  it('lets a whole-call failure through as it is', async () => {
    const failure = new ProviderError({ code: 'RATE_LIMITED', provider: X, retryAfter: 30 });
    const { client } = stubClient({ users: failure });
    await expect(callsOf(xUsers, client).fetch(['1'], scope().scope)).rejects.toBe(failure);
  });
});

describe('xUsersByUsername.fetch', () => {
  it('makes one usersByUsernames call and keys users by lower-cased username', async () => {
    const { client, calls } = stubClient({ users: { data: [user('12', { username: 'TwitterDev' })] } });
    const { scope: s } = scope();
    const found = await callsOf(xUsersByUsername, client).fetch(['TwitterDev', 'nobody'], s);
    expect(calls).toEqual([{ method: 'usersByUsernames', keys: ['TwitterDev', 'nobody'], fields: [] }]);
    expect(found.get('twitterdev')).toEqual(user('12', { username: 'TwitterDev' }));
    expect(found.has('TwitterDev')).toBe(false);
    expect(asError(found.get('nobody'))).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });

  it('keys a username’s problem by the lower-cased name, naming it as asked', async () => {
    const { client } = stubClient({ users: { errors: [notFound('user', 'usernames', 'Ghost'), suspended('Banned', 'usernames')] } });
    const found = await callsOf(xUsersByUsername, client).fetch(['Ghost', 'Banned'], scope().scope);
    expect(asError(found.get('ghost'))).toMatchObject({ code: 'NOT_FOUND', id: 'Ghost' });
    expect(asError(found.get('banned'))).toMatchObject({ code: 'SUSPENDED', id: 'Banned' });
  });

  it('primes each user found into xUsers by id, and included posts into xTweets', async () => {
    const { client } = stubClient({
      users: { data: [user('12', { username: 'Dev', pinned_tweet_id: '9' })], includes: { tweets: [tweet('9')] } },
    });
    const { scope: s, primes } = scope(['expansions=pinned_tweet_id']);
    await callsOf(xUsersByUsername, client).fetch(['dev'], s);
    expect(primes).toEqual([
      { lookup: xTweets, key: '9', value: tweet('9') },
      { lookup: xUsers, key: '12', value: user('12', { username: 'Dev', pinned_tweet_id: '9' }) },
    ]);
  });
});

describe('xTweets.fetch', () => {
  it('makes one tweetsByIds call, keys posts by id, and answers a post’s problem at its id', async () => {
    const { client, calls } = stubClient({
      tweets: { data: [tweet('20'), tweet('10')], errors: [notFound('tweet', 'ids', '30')] },
    });
    const found = await callsOf(xTweets, client).fetch(['10', '20', '30', '40'], scope(['tweet.fields=lang']).scope);
    expect(calls).toEqual([{ method: 'tweetsByIds', keys: ['10', '20', '30', '40'], fields: ['tweet.fields=lang'] }]);
    expect(found.get('10')).toEqual(tweet('10'));
    expect(found.get('20')).toEqual(tweet('20'));
    expect(asError(found.get('30'))).toMatchObject({ code: 'NOT_FOUND', id: '30' });
    expect(found.has('40')).toBe(false);
  });

  it('primes expanded authors into xUsers', async () => {
    const { client } = stubClient({
      tweets: { data: [tweet('10', { author_id: '1' }), tweet('11', { author_id: '1' })], includes: { users: [user('1')] } },
    });
    const { scope: s, primes } = scope(['expansions=author_id', 'tweet.fields=author_id']);
    await callsOf(xTweets, client).fetch(['10', '11'], s);
    expect(primes).toEqual([{ lookup: xUsers, key: '1', value: user('1') }]);
  });

  it('ignores problems about other resources', async () => {
    const { client } = stubClient({ tweets: { errors: [notFound('user', 'author_id', '5')] } });
    expect((await callsOf(xTweets, client).fetch(['5'], scope().scope)).size).toBe(0);
  });
});
