import { type GraphQLSchema, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { selectedFields } from '../../plan/selected-fields.js';
import { buildSchema } from '../../schema.js';
import { providers } from '../registry.js';
import { FULL_X_PLAN, planXFields, type XFieldPlan } from './plan.js';
import { X_TWEET_FIELDS, X_USER_EXPANSIONS, X_USER_FIELDS } from './wire.js';

const plan = (...coordinates: string[]) => planXFields(new Set(coordinates));

const EMPTY: XFieldPlan = { userFields: [], userExpansions: [], tweetFields: [], expandTweetAuthor: false };

function expectValidAndSorted(p: XFieldPlan): void {
  for (const f of p.userFields) expect(X_USER_FIELDS as readonly string[], `user field ${f}`).toContain(f);
  for (const e of p.userExpansions) expect(X_USER_EXPANSIONS as readonly string[], `expansion ${e}`).toContain(e);
  for (const f of p.tweetFields) expect(X_TWEET_FIELDS as readonly string[], `tweet field ${f}`).toContain(f);
  for (const list of [p.userFields, p.userExpansions, p.tweetFields] as const) {
    expect([...list]).toEqual([...new Set(list)].sort());
  }
}

describe('planXFields', () => {
  it('asks for nothing extra when only defaults are selected', () => {
    const p = plan('Query.xUsers', 'XUser.id', 'XUser.name', 'XUser.username', 'XUser.displayName', 'XUser.provider');
    expect(p).toEqual(EMPTY);
  });

  it('asks for nothing extra for an empty selection', () => {
    expect(plan()).toEqual(EMPTY);
  });

  it('maps avatarUrl and profileImageUrl to a single profile_image_url', () => {
    expect(plan('XUser.avatarUrl').userFields).toEqual(['profile_image_url']);
    expect(plan('XUser.profileImageUrl').userFields).toEqual(['profile_image_url']);
    expect(plan('XUser.avatarUrl', 'XUser.profileImageUrl', 'XUser.id')).toEqual({
      ...EMPTY,
      userFields: ['profile_image_url'],
    });
  });

  it('maps each scalar user field to its X user.field', () => {
    const cases: Record<string, string> = {
      createdAt: 'created_at',
      description: 'description',
      location: 'location',
      url: 'url',
      protected: 'protected',
      verified: 'verified',
      verifiedType: 'verified_type',
      publicMetrics: 'public_metrics',
      withheld: 'withheld',
    };
    for (const [field, xField] of Object.entries(cases)) {
      expect(plan(`XUser.${field}`), field).toEqual({ ...EMPTY, userFields: [xField] });
    }
  });

  it('asks for pinned_tweet_id as both user field and expansion for pinnedTweet', () => {
    expect(plan('XUser.pinnedTweet')).toEqual({
      ...EMPTY,
      userFields: ['pinned_tweet_id'],
      userExpansions: ['pinned_tweet_id'],
    });
  });

  it('asks for most_recent_tweet_id as both user field and expansion for mostRecentTweet', () => {
    expect(plan('XUser.mostRecentTweet')).toEqual({
      ...EMPTY,
      userFields: ['most_recent_tweet_id'],
      userExpansions: ['most_recent_tweet_id'],
    });
  });

  it('asks for author_id and the author expansion for XTweet.author', () => {
    expect(plan('XTweet.author')).toEqual({ ...EMPTY, tweetFields: ['author_id'], expandTweetAuthor: true });
  });

  it('maps tweet fields, and asks nothing for the default id and text', () => {
    expect(plan('XTweet.id', 'XTweet.text')).toEqual(EMPTY);
    expect(plan('XTweet.lang', 'XTweet.createdAt', 'XTweet.publicMetrics', 'XTweet.text')).toEqual({
      ...EMPTY,
      tweetFields: ['created_at', 'lang', 'public_metrics'],
    });
  });

  it('keeps user and tweet fields of the same name apart', () => {
    expect(plan('XUser.createdAt')).toEqual({ ...EMPTY, userFields: ['created_at'] });
    expect(plan('XTweet.createdAt')).toEqual({ ...EMPTY, tweetFields: ['created_at'] });
    expect(plan('XUserPublicMetrics.followersCount', 'XTweetPublicMetrics.likeCount')).toEqual(EMPTY);
  });

  it('sorts and deduplicates whatever the selection order', () => {
    const p = plan(
      'XUser.withheld',
      'XUser.avatarUrl',
      'XTweet.publicMetrics',
      'XUser.pinnedTweet',
      'XUser.createdAt',
      'XTweet.author',
      'XUser.mostRecentTweet',
      'XUser.profileImageUrl',
      'XTweet.createdAt',
    );
    expect(p).toEqual({
      userFields: ['created_at', 'most_recent_tweet_id', 'pinned_tweet_id', 'profile_image_url', 'withheld'],
      userExpansions: ['most_recent_tweet_id', 'pinned_tweet_id'],
      tweetFields: ['author_id', 'created_at', 'public_metrics'],
      expandTweetAuthor: true,
    });
    expectValidAndSorted(p);
  });

  it('returns the same plan object for the same selection set', () => {
    const selection = new Set(['XUser.description']);
    expect(planXFields(selection)).toBe(planXFields(selection));
  });

  it('plans from a real operation through selectedFields', () => {
    const schema: GraphQLSchema = buildSchema(providers);
    const document = parse(`{
      xUsers(ids: ["1"]) {
        ... on ExternalUser { displayName avatarUrl }
        pinnedTweet { text author { verified } }
      }
    }`);
    expect(planXFields(selectedFields(schema, document))).toEqual({
      userFields: ['pinned_tweet_id', 'profile_image_url', 'verified'],
      userExpansions: ['pinned_tweet_id'],
      tweetFields: ['author_id'],
      expandTweetAuthor: true,
    });
  });
});

describe('FULL_X_PLAN', () => {
  it('asks for every field the subgraph maps', () => {
    expect(FULL_X_PLAN).toEqual({
      userFields: [
        'created_at',
        'description',
        'location',
        'most_recent_tweet_id',
        'pinned_tweet_id',
        'profile_image_url',
        'protected',
        'public_metrics',
        'url',
        'verified',
        'verified_type',
        'withheld',
      ],
      userExpansions: ['most_recent_tweet_id', 'pinned_tweet_id'],
      tweetFields: ['author_id', 'created_at', 'lang', 'public_metrics'],
      expandTweetAuthor: true,
    });
  });

  it('uses only values X accepts, sorted and without duplicates', () => {
    expectValidAndSorted(FULL_X_PLAN);
  });

  it('covers every field any selection of the schema can produce', () => {
    const schema = buildSchema(providers);
    const everything = new Set<string>();
    for (const typeName of ['XUser', 'XTweet']) {
      const type = schema.getType(typeName) as { getFields(): Record<string, unknown> };
      for (const field of Object.keys(type.getFields())) everything.add(`${typeName}.${field}`);
    }
    const all = planXFields(everything);
    expectValidAndSorted(all);
    expect(all).toEqual(FULL_X_PLAN);
  });
});
