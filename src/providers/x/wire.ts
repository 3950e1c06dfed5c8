/**
 * X API v2 wire format: the JSON that `GET /2/users`, `/2/users/by` and `/2/tweets` send back.
 * Names are X's own (snake_case); the mapping to GraphQL lives in `resolvers.ts`.
 * Shapes follow `../shared/specs/x-openapi-2.159.json` (schemas User, Tweet, Expansions, Problem).
 */

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

/** `expansions` for `GET /2/tweets` that this subgraph uses. */
export const X_TWEET_EXPANSIONS = ['author_id'] as const;

export const X_ID_PATTERN = /^[0-9]{1,19}$/;
export const X_USERNAME_PATTERN = /^[A-Za-z0-9_]{1,15}$/;
/** Most ids / usernames one call takes. */
export const X_MAX_IDS_PER_CALL = 100;

export interface XUserPublicMetrics {
  followers_count: number;
  following_count: number;
  tweet_count: number;
  listed_count: number;
  like_count?: number;
  media_count?: number;
}

export interface XWithheld {
  copyright?: boolean;
  country_codes: string[];
  scope?: 'tweet' | 'user';
}

export interface XApiUser {
  id: string;
  name: string;
  username: string;
  created_at?: string;
  description?: string;
  location?: string;
  url?: string;
  profile_image_url?: string;
  protected?: boolean;
  verified?: boolean;
  verified_type?: 'blue' | 'government' | 'business' | 'none';
  public_metrics?: XUserPublicMetrics;
  withheld?: XWithheld;
  pinned_tweet_id?: string;
  most_recent_tweet_id?: string;
}

/** Spec: Tweet.public_metrics requires all but `quote_count`. */
export interface XTweetPublicMetrics {
  retweet_count: number;
  reply_count: number;
  like_count: number;
  quote_count?: number;
  bookmark_count: number;
  impression_count: number;
}

export interface XApiTweet {
  id: string;
  text: string;
  edit_history_tweet_ids?: string[];
  author_id?: string;
  created_at?: string;
  lang?: string;
  public_metrics?: XTweetPublicMetrics;
}

/** RFC 7807 problem as X sends it, inside `errors` (partial results) or as the whole body (4xx/5xx). */
export interface XProblem {
  type: string;
  title: string;
  detail?: string;
  status?: number;
  value?: string;
  parameter?: string;
  resource_id?: string;
  resource_type?: 'user' | 'tweet' | 'media' | 'list' | 'space';
}

/** Body of a 200 from `/2/users`, `/2/users/by` (data: users) or `/2/tweets` (data: tweets). */
export interface XLookupResponse<T> {
  data?: T[];
  includes?: { users?: XApiUser[]; tweets?: XApiTweet[] };
  errors?: XProblem[];
}

export const X_PROBLEM_NOT_FOUND = 'https://api.twitter.com/2/problems/resource-not-found';
export const X_PROBLEM_INVALID_REQUEST = 'https://api.twitter.com/2/problems/invalid-request';
