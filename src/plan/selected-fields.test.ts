import type { GraphQLSchema } from 'graphql';
import { isInterfaceType, parse } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { providers } from '../providers/registry.js';
import { buildSchema } from '../schema.js';
import { selectedFields } from './selected-fields.js';

let schema: GraphQLSchema;
beforeAll(() => {
  schema = buildSchema(providers);
});

const fieldsOf = (source: string) => new Set(selectedFields(schema, parse(source)));

/** Every type implementing `User`: one per provider, whichever providers there are. */
function implementationsOfUser(): string[] {
  const user = schema.getType('ExternalUser');
  if (!isInterfaceType(user)) throw new Error('the schema has no User interface');
  const names = schema.getPossibleTypes(user).map((type) => type.name);
  expect(names.length).toBeGreaterThan(1);
  return names;
}

describe('selectedFields', () => {
  it('lists plain fields as schema coordinates, root field included', () => {
    expect(fieldsOf('{ xUsers(ids: ["1"]) { id name username } }')).toEqual(
      new Set(['Query.xUsers', 'XUser.id', 'XUser.name', 'XUser.username']),
    );
  });

  it('descends into nested object types', () => {
    expect(fieldsOf('{ xUsersByUsername(usernames: ["a"]) { publicMetrics { followersCount } withheld { scope } } }')).toEqual(
      new Set(['Query.xUsersByUsername', 'XUser.publicMetrics', 'XUserPublicMetrics.followersCount', 'XUser.withheld', 'XWithheld.scope']),
    );
  });

  it('names fields, not aliases', () => {
    const fields = fieldsOf('{ a: xUsers(ids: ["1"]) { handle: username n: name } b: xUsers(ids: ["2"]) { name } }');
    expect(fields).toEqual(new Set(['Query.xUsers', 'XUser.username', 'XUser.name']));
    expect([...fields].some((f) => f.endsWith('.handle') || f.endsWith('.n') || f.startsWith('a.'))).toBe(false);
  });

  it('follows named fragments, including nested and repeated ones', () => {
    const fields = fieldsOf(`
      query Q { xUsers(ids: ["1"]) { ...Profile ...Profile } }
      fragment Profile on XUser { description pinnedTweet { ...TweetBits } }
      fragment TweetBits on XTweet { text lang }
    `);
    expect(fields).toEqual(new Set(['Query.xUsers', 'XUser.description', 'XUser.pinnedTweet', 'XTweet.text', 'XTweet.lang']));
  });

  it('expands fields selected on the User interface to every implementation (inline fragment)', () => {
    const fields = fieldsOf('{ xUsers(ids: ["1"]) { ... on ExternalUser { id displayName avatarUrl provider } } }');
    const common = ['id', 'displayName', 'avatarUrl', 'provider'];
    expect(fields).toEqual(new Set(['Query.xUsers', ...implementationsOfUser().flatMap((type) => common.map((f) => `${type}.${f}`))]));
    expect([...fields].some((f) => f.startsWith('User.'))).toBe(false);
  });

  it('expands fields selected on the User interface to every implementation (named fragment)', () => {
    const fields = fieldsOf(`
      { xUsers(ids: ["1"]) { ...Common ... on XUser { createdAt } } }
      fragment Common on ExternalUser { displayName avatarUrl }
    `);
    expect(fields).toEqual(
      new Set([
        'Query.xUsers',
        'XUser.createdAt',
        ...implementationsOfUser().flatMap((type) => [`${type}.displayName`, `${type}.avatarUrl`]),
      ]),
    );
  });

  it('reads _entities with inline fragments on XUser and Tweet', () => {
    const fields = fieldsOf(`
      query ($representations: [_Any!]!) {
        _entities(representations: $representations) {
          __typename
          ... on XUser { id verified publicMetrics { tweetCount } }
          ... on XTweet { text createdAt author { username profileImageUrl } }
        }
      }
    `);
    expect(fields).toEqual(
      new Set([
        'Query._entities',
        'XUser.id',
        'XUser.verified',
        'XUser.publicMetrics',
        'XUserPublicMetrics.tweetCount',
        'XTweet.text',
        'XTweet.createdAt',
        'XTweet.author',
        'XUser.username',
        'XUser.profileImageUrl',
      ]),
    );
  });

  it('follows pinnedTweet { author { ... } } back to XUser', () => {
    const fields = fieldsOf(`{
      xUsers(ids: ["1"]) {
        id
        pinnedTweet { id publicMetrics { likeCount } author { location mostRecentTweet { text } } }
      }
    }`);
    expect(fields).toEqual(
      new Set([
        'Query.xUsers',
        'XUser.id',
        'XUser.pinnedTweet',
        'XTweet.id',
        'XTweet.publicMetrics',
        'XTweetPublicMetrics.likeCount',
        'XTweet.author',
        'XUser.location',
        'XUser.mostRecentTweet',
        'XTweet.text',
      ]),
    );
  });

  it('ignores __typename (and other introspection fields)', () => {
    const fields = fieldsOf('{ __typename xUsers(ids: ["1"]) { __typename id pinnedTweet { __typename } } }');
    expect(fields).toEqual(new Set(['Query.xUsers', 'XUser.id', 'XUser.pinnedTweet']));
    expect([...fields].some((f) => f.includes('__'))).toBe(false);
  });

  it('gives only the entry field for an _entities that selects nothing but __typename', () => {
    expect(fieldsOf('query ($r: [_Any!]!) { _entities(representations: $r) { __typename } }')).toEqual(new Set(['Query._entities']));
  });

  it('plans for fields under @skip/@include, whatever the variables', () => {
    const fields = fieldsOf('query ($s: Boolean!) { xUsers(ids: ["1"]) { id url @include(if: $s) location @skip(if: true) } }');
    expect(fields).toEqual(new Set(['Query.xUsers', 'XUser.id', 'XUser.url', 'XUser.location']));
  });

  it('unions the fields of every operation in the document', () => {
    const fields = fieldsOf(`
      query A { xUsers(ids: ["1"]) { name } }
      query B { xUsersByUsername(usernames: ["a"]) { description } }
    `);
    expect(fields).toEqual(new Set(['Query.xUsers', 'XUser.name', 'Query.xUsersByUsername', 'XUser.description']));
  });

  it('caches per document: the same DocumentNode gives the identical Set', () => {
    const document = parse('{ xUsers(ids: ["1"]) { id name } }');
    const first = selectedFields(schema, document);
    const second = selectedFields(schema, document);
    expect(second).toBe(first);

    // A different document object with the same text is planned afresh: equal, not the same object.
    const again = selectedFields(schema, parse('{ xUsers(ids: ["1"]) { id name } }'));
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });
});
