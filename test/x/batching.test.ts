import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { demoIds, type Harness, startHarness } from '../support/harness.js';
import { idsOf, xCalls } from '../support/x.js';

/**
 * What only X has, measured at the emulator: suspended users, lookups by username beside lookups by id,
 * field pushdown into `user.fields`, `expansions` and `tweet.fields`, posts and their authors. What every
 * provider does (batching to 100 ids a call, repeats fetched once, NOT_FOUND in place, hostile ids, caps):
 * the conformance suite, test/conformance/.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ emulators: { x: { suspendedIds: ['666'] } } });
});
afterAll(() => h.close());
beforeEach(() => h.reset());

describe('xUsers batching', () => {
  it('gives null plus a typed error at the exact index for missing and suspended ids', async () => {
    const { status, body } = await h.gql('{ xUsers(ids: ["1", "55555", "666", "2"]) { id } }');
    expect(status).toBe(200);
    expect(body.data.xUsers).toEqual([{ id: '1' }, null, null, { id: '2' }]);
    const errors = body.errors!.map((e) => ({ path: e.path, ...e.extensions }));
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: ['xUsers', 1], code: 'NOT_FOUND', provider: 'x', id: '55555' },
        { path: ['xUsers', 2], code: 'SUSPENDED', provider: 'x', id: '666' },
      ]),
    );
    expect(errors).toHaveLength(2);
    expect(xCalls(h, '/2/users')).toHaveLength(1);
  });

  it('an operation with several root fields and usernames makes one call per lookup kind', async () => {
    const { body } = await h.gql(`{
      a: xUsers(ids: ["1", "2"]) { id }
      b: xUsers(ids: ["2", "3"]) { id }
      c: xUsersByUsername(usernames: ["user4", "USER5", "user4", "nobody_here"]) { id username }
    }`);
    expect(body.data.a.map((u: any) => u.id)).toEqual(['1', '2']);
    expect(body.data.b.map((u: any) => u.id)).toEqual(['2', '3']);
    expect(body.data.c.map((u: any) => u?.id ?? null)).toEqual(['4', '5', '4', null]);
    expect(body.errors).toEqual([
      expect.objectContaining({ path: ['c', 3], extensions: { code: 'NOT_FOUND', provider: 'x', id: 'nobody_here' } }),
    ]);
    expect(xCalls(h, '/2/users')).toHaveLength(1);
    expect(idsOf(xCalls(h, '/2/users')[0]!).sort()).toEqual(['1', '2', '3']);
    const byName = xCalls(h, '/2/users/by');
    expect(byName).toHaveLength(1);
    expect(idsOf(byName[0]!)).toHaveLength(3); // user4 once, USER5, nobody_here
  });
});

describe('field pushdown', () => {
  it('aliases, named fragments and inline fragments on ExternalUser merge into one call with their union', async () => {
    const { body } = await h.gql(`
      query {
        first: xUsers(ids: ["1", "2"]) { ...Card }
        second: xUsers(ids: ["2", "3"]) {
          ... on ExternalUser { avatarUrl displayName }
          loc: location
        }
      }
      fragment Card on XUser { handle: username createdAt publicMetrics { followersCount } }
    `);
    expect(body.errors).toBeUndefined();
    expect(body.data.first[0]).toEqual({
      handle: 'user1',
      createdAt: expect.any(String),
      publicMetrics: { followersCount: expect.any(Number) },
    });
    expect(body.data.second[1]).toEqual({ avatarUrl: expect.stringContaining('/3/'), displayName: 'Demo User 3', loc: expect.any(String) });
    const calls = xCalls(h, '/2/users');
    expect(calls).toHaveLength(1);
    expect(idsOf(calls[0]!).sort()).toEqual(['1', '2', '3']);
    expect(calls[0]!.query['user.fields']!.split(',').sort()).toEqual(['created_at', 'location', 'profile_image_url', 'public_metrics']);
    expect(calls[0]!.query.expansions).toBeUndefined();
  });

  it('pinnedTweet and mostRecentTweet arrive as expansions of the same call', async () => {
    const { body } = await h.gql(`{
      xUsers(ids: ["1", "2", "3"]) {
        id
        pinnedTweet { id text createdAt }
        mostRecentTweet { id lang publicMetrics { likeCount } }
      }
    }`);
    expect(body.errors).toBeUndefined();
    expect(body.data.xUsers[0].pinnedTweet).toEqual({ id: '1001', text: expect.any(String), createdAt: expect.any(String) });
    expect(body.data.xUsers[2].pinnedTweet).toBeNull(); // demo user 3 has no pinned tweet
    expect(body.data.xUsers[2].mostRecentTweet).toEqual({ id: '3002', lang: 'en', publicMetrics: { likeCount: expect.any(Number) } });
    expect(xCalls(h)).toHaveLength(1);
    const [call] = xCalls(h, '/2/users');
    expect(call!.query.expansions!.split(',').sort()).toEqual(['most_recent_tweet_id', 'pinned_tweet_id']);
    expect(call!.query['tweet.fields']!.split(',').sort()).toEqual(['created_at', 'lang', 'public_metrics']);
  });

  it('XTweet.author goes back through the user loader: no extra call for an author already loaded', async () => {
    const { body } = await h.gql(`{
      xUsers(ids: ["1", "2"]) { name pinnedTweet { author { id name pinnedTweet { id } } } }
    }`);
    expect(body.errors).toBeUndefined();
    expect(body.data.xUsers[0].pinnedTweet.author).toEqual({ id: '1', name: 'Demo User 1', pinnedTweet: { id: '1001' } });
    expect(xCalls(h)).toHaveLength(1);
    expect(xCalls(h, '/2/users')[0]!.query['tweet.fields']).toBe('author_id');
  });
});

describe('_entities', () => {
  const entities = `query($r: [_Any!]!) { _entities(representations: $r) {
    ... on XUser { id username }
    ... on XTweet { id text author { username } }
  } }`;

  it('Tweet representations take one /2/tweets call, with their authors expanded into it', async () => {
    const { body } = await h.gql(entities, {
      r: [
        { __typename: 'XTweet', id: '1001' },
        { __typename: 'XTweet', id: '2002' },
        { __typename: 'XTweet', id: '424242' },
        { __typename: 'XUser', id: '2' },
      ],
    });
    expect(body.data._entities[0]).toEqual({ id: '1001', text: expect.any(String), author: { username: 'user1' } });
    expect(body.data._entities[1].author).toEqual({ username: 'user2' });
    expect(body.data._entities[2]).toBeNull();
    expect(body.errors).toEqual([
      expect.objectContaining({ path: ['_entities', 2], extensions: { code: 'NOT_FOUND', provider: 'x', id: '424242' } }),
    ]);
    const tweets = xCalls(h, '/2/tweets');
    expect(tweets).toHaveLength(1);
    expect(tweets[0]!.query.expansions).toBe('author_id');
    // The XUser representation is the only user lookup: the authors came expanded in the tweets call.
    const users = xCalls(h, '/2/users');
    expect(users).toHaveLength(1);
    expect(idsOf(users[0]!)).toEqual(['2']);
  });
});

describe('bad input fails alone, and nothing is sent for it', () => {
  it('a malformed id is BAD_USER_INPUT at its own index; the valid ones are served', async () => {
    const { status, body } = await h.gql('{ xUsers(ids: ["1", "12a", "x"]) { id } }');
    expect(status).toBe(200);
    expect(body.data.xUsers).toEqual([{ id: '1' }, null, null]);
    expect(body.errors!.map((e) => [e.path, e.extensions])).toEqual([
      [['xUsers', 1], { code: 'BAD_USER_INPUT', provider: 'x', id: '12a' }],
      [['xUsers', 2], { code: 'BAD_USER_INPUT', provider: 'x', id: 'x' }],
    ]);
    expect(body.errors![0]!.message).toBe('"12a" is not an X user id (a decimal number from 1 to 2^63-1, without leading zeros)');
    expect(xCalls(h).map(idsOf)).toEqual([['1']]);
  });

  it('a bad username is BAD_USER_INPUT at its own index, and is never sent', async () => {
    const name = await h.gql('query($n: [String!]!) { xUsersByUsername(usernames: $n) { id } }', { n: ['user7', 'has space'] });
    expect(name.body.data.xUsersByUsername).toEqual([{ id: '7' }, null]);
    expect(name.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', id: 'has space' });
    expect(xCalls(h).map(idsOf)).toEqual([['user7']]);
  });

  it('more distinct ids than MAX_IDS_PER_OPERATION: the ids beyond fail alone, across root fields and _entities', async () => {
    const { status, body } = await h.gql('query($a: [ID!]!, $b: [ID!]!) { a: xUsers(ids: $a) { id } b: xUsers(ids: $b) { id } }', {
      a: demoIds(600, 1001),
      b: demoIds(401, 2001),
    });
    expect(status).toBe(200);
    expect(body.data.a.every((user: unknown) => user !== null)).toBe(true);
    expect(body.data.b.slice(0, 400).every((user: unknown) => user !== null)).toBe(true);
    expect(body.data.b[400]).toBeNull();
    expect(body.errors).toEqual([
      expect.objectContaining({
        path: ['b', 400],
        extensions: { code: 'BAD_USER_INPUT', provider: 'x', id: '2401', limit: 'MAX_IDS_PER_OPERATION', max: 1000 },
      }),
    ]);
    expect(xCalls(h, '/2/users')).toHaveLength(10);

    h.reset();
    const entities = await h.gql('query($r: [_Any!]!) { _entities(representations: $r) { ... on XUser { id } } }', {
      r: demoIds(1001, 1001).map((id) => ({ __typename: 'XUser', id })),
    });
    expect(entities.body.data._entities[1000]).toBeNull();
    expect(entities.body.errors!.map((e) => e.extensions!.code)).toEqual(['BAD_USER_INPUT']);
    expect(xCalls(h, '/2/users')).toHaveLength(10);
  });
});
