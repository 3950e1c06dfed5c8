/**
 * X API v2 wire format: the JSON that `GET /2/users`, `/2/users/by` and `/2/tweets` send back.
 * Names are X's own (snake_case); the mapping to GraphQL lives in `resolvers.ts`.
 * Shapes follow X's OpenAPI spec 2.159 (`src/providers/x/emulator/x-openapi-2.159.json`: User, Tweet, Expansions,
 * Problem); the zod schemas check every response against them at the boundary.
 */

import { z } from 'zod';

/** `user.fields` values X accepts (spec: UserFieldsParameter). `id,name,username` always come back. */
export const X_USER_FIELDS = [
  'affiliation',
  'confirmed_email',
  'connection_status',
  'created_at',
  'description',
  'entities',
  'id',
  'is_identity_verified',
  'location',
  'most_recent_tweet_id',
  'name',
  'parody',
  'pinned_tweet_id',
  'profile_banner_url',
  'profile_image_url',
  'protected',
  'public_metrics',
  'receives_your_dm',
  'subscription',
  'subscription_type',
  'url',
  'username',
  'verified',
  'verified_followers_count',
  'verified_type',
  'withheld',
] as const;
export type XUserField = (typeof X_USER_FIELDS)[number];

/** `expansions` values for the user lookups (spec: UserExpansionsParameter). */
export const X_USER_EXPANSIONS = ['affiliation.user_id', 'most_recent_tweet_id', 'pinned_tweet_id'] as const;
export type XUserExpansion = (typeof X_USER_EXPANSIONS)[number];

/** `tweet.fields` values X accepts (spec: TweetFieldsParameter). */
export const X_TWEET_FIELDS = [
  'article',
  'attachments',
  'author_id',
  'card_uri',
  'community_id',
  'context_annotations',
  'conversation_id',
  'created_at',
  'display_text_range',
  'edit_controls',
  'edit_history_tweet_ids',
  'entities',
  'geo',
  'id',
  'in_reply_to_user_id',
  'lang',
  'media_metadata',
  'non_public_metrics',
  'note_tweet',
  'organic_metrics',
  'possibly_sensitive',
  'promoted_metrics',
  'public_metrics',
  'referenced_tweets',
  'reply_settings',
  'scopes',
  'source',
  'suggested_source_links',
  'suggested_source_links_with_counts',
  'text',
  'withheld',
] as const;
export type XTweetField = (typeof X_TWEET_FIELDS)[number];

/** An id as X writes one: canonical decimal (no sign, no leading zero), 1 to 2^63−1. */
const X_ID_PATTERN = /^[1-9][0-9]{0,18}$/;
const X_MAX_ID = '9223372036854775807';

/** Whether `value` is an id X can have (`0`, `007` and 19 digits above 2^63−1 are not: X refuses them with a 400). */
export function isXId(value: string): boolean {
  return X_ID_PATTERN.test(value) && (value.length < X_MAX_ID.length || value <= X_MAX_ID);
}
export const X_USERNAME_PATTERN = /^[A-Za-z0-9_]{1,15}$/;
/** Most ids / usernames one call takes. */
export const X_MAX_IDS_PER_CALL = 100;

export const XUserPublicMetrics = z.object({
  followers_count: z.number(),
  following_count: z.number(),
  tweet_count: z.number(),
  listed_count: z.number(),
  like_count: z.number().optional(),
  media_count: z.number().optional(),
});
export type XUserPublicMetrics = z.infer<typeof XUserPublicMetrics>;

export const XWithheld = z.object({
  copyright: z.boolean().optional(),
  country_codes: z.array(z.string()),
  scope: z.string().optional(),
});
export type XWithheld = z.infer<typeof XWithheld>;

/**
 * A user as X sends it: `id`, `name` and `username` always, the rest only when asked for in
 * `user.fields` (or implied by an expansion). Enum-like values stay strings: X adds values (a new
 * `verified_type`) without notice, and an unknown one must not fail the lookup.
 */
export const XApiUser = z.object({
  id: z.string(),
  name: z.string(),
  username: z.string(),
  created_at: z.string().optional(),
  description: z.string().optional(),
  location: z.string().optional(),
  url: z.string().optional(),
  profile_image_url: z.string().optional(),
  protected: z.boolean().optional(),
  verified: z.boolean().optional(),
  verified_type: z.string().optional(),
  public_metrics: XUserPublicMetrics.optional(),
  withheld: XWithheld.optional(),
  pinned_tweet_id: z.string().optional(),
  most_recent_tweet_id: z.string().optional(),
});
export type XApiUser = z.infer<typeof XApiUser>;

/** Spec: Tweet.public_metrics requires all but `quote_count`. */
export const XTweetPublicMetrics = z.object({
  retweet_count: z.number(),
  reply_count: z.number(),
  like_count: z.number(),
  quote_count: z.number().optional(),
  bookmark_count: z.number(),
  impression_count: z.number(),
});
export type XTweetPublicMetrics = z.infer<typeof XTweetPublicMetrics>;

export const XApiTweet = z.object({
  id: z.string(),
  text: z.string(),
  edit_history_tweet_ids: z.array(z.string()).optional(),
  author_id: z.string().optional(),
  created_at: z.string().optional(),
  lang: z.string().optional(),
  public_metrics: XTweetPublicMetrics.optional(),
});
export type XApiTweet = z.infer<typeof XApiTweet>;

/** RFC 7807 problem as X sends it, inside `errors` (partial results) or as the whole body (4xx/5xx). */
export const XProblem = z.object({
  type: z.string(),
  title: z.string(),
  detail: z.string().optional(),
  status: z.number().optional(),
  value: z.string().optional(),
  parameter: z.string().optional(),
  resource_id: z.string().optional(),
  resource_type: z.string().optional(),
});
export type XProblem = z.infer<typeof XProblem>;

/** Body of a 200 from `/2/users`, `/2/users/by` (data: users) or `/2/tweets` (data: tweets). */
const lookupResponse = <T extends z.ZodType>(record: T) =>
  z.object({
    data: z.array(record).optional(),
    includes: z.object({ users: z.array(XApiUser).optional(), tweets: z.array(XApiTweet).optional() }).optional(),
    errors: z.array(XProblem).optional(),
  });
export const XUsersResponse = lookupResponse(XApiUser);
export const XTweetsResponse = lookupResponse(XApiTweet);
export type XLookupResponse<T> = { data?: T[]; includes?: { users?: XApiUser[]; tweets?: XApiTweet[] }; errors?: XProblem[] };
