import type { FieldSet, SelectedFields } from '../../core/types.js';
import type { XTweetField, XUserExpansion, XUserField } from './wire.js';

/**
 * What to ask X for, derived from the fields an operation selects. `id`, `name` and `username` (and
 * a tweet's `id` and `text`) always come back, so they are never asked for: an operation that selects
 * only `id name` sends `GET /2/users?ids=…` and nothing else.
 */
export interface XFieldPlan {
  userFields: readonly XUserField[];
  userExpansions: readonly XUserExpansion[];
  tweetFields: readonly XTweetField[];
  /** `XTweet.author` is selected: `/2/tweets` expands `author_id` so authors arrive in the same call. */
  expandTweetAuthor: boolean;
}

/** GraphQL field -> the `user.fields` it needs. Fields absent here need nothing beyond the defaults. */
const USER_FIELDS: Record<string, XUserField[]> = {
  createdAt: ['created_at'],
  description: ['description'],
  location: ['location'],
  url: ['url'],
  profileImageUrl: ['profile_image_url'],
  avatarUrl: ['profile_image_url'],
  protected: ['protected'],
  verified: ['verified'],
  verifiedType: ['verified_type'],
  publicMetrics: ['public_metrics'],
  withheld: ['withheld'],
  // The id field is asked for alongside its expansion so the link never depends on X adding it implicitly.
  pinnedTweet: ['pinned_tweet_id'],
  mostRecentTweet: ['most_recent_tweet_id'],
};

const USER_EXPANSIONS: Record<string, XUserExpansion> = {
  pinnedTweet: 'pinned_tweet_id',
  mostRecentTweet: 'most_recent_tweet_id',
};

const TWEET_FIELDS: Record<string, XTweetField> = {
  createdAt: 'created_at',
  lang: 'lang',
  publicMetrics: 'public_metrics',
  author: 'author_id',
};

const cache = new WeakMap<SelectedFields, XFieldPlan>();

export function planXFields(selected: SelectedFields): XFieldPlan {
  let plan = cache.get(selected);
  if (plan === undefined) {
    plan = build(selected);
    cache.set(selected, plan);
  }
  return plan;
}

function build(selected: SelectedFields): XFieldPlan {
  const userFields = new Set<XUserField>();
  const userExpansions = new Set<XUserExpansion>();
  const tweetFields = new Set<XTweetField>();
  for (const coordinate of selected) {
    const dot = coordinate.indexOf('.');
    const type = coordinate.slice(0, dot);
    const field = coordinate.slice(dot + 1);
    if (type === 'XUser') {
      for (const f of USER_FIELDS[field] ?? []) userFields.add(f);
      const expansion = USER_EXPANSIONS[field];
      if (expansion) userExpansions.add(expansion);
    } else if (type === 'XTweet') {
      const f = TWEET_FIELDS[field];
      if (f) tweetFields.add(f);
    }
  }
  return {
    userFields: [...userFields].sort(),
    userExpansions: [...userExpansions].sort(),
    tweetFields: [...tweetFields].sort(),
    expandTweetAuthor: selected.has('XTweet.author'),
  };
}

/** Everything this subgraph can map, for callers that have no operation to plan from. */
export const FULL_X_PLAN: XFieldPlan = build(
  new Set([...Object.keys(USER_FIELDS).map((f) => `XUser.${f}`), ...Object.keys(TWEET_FIELDS).map((f) => `XTweet.${f}`)]),
);

/**
 * The plan as each lookup's field set: exactly the query parameters its call sends besides the keys,
 * as `param=value` strings (`user.fields=created_at`, `expansions=pinned_tweet_id`). A user lookup asks
 * for `tweet.fields` only with an expansion to apply them to; a tweet lookup expands its author (with
 * the user fields) only when `XTweet.author` is selected.
 */
export function userFieldSet(plan: XFieldPlan): FieldSet {
  const fields = [...plan.userFields.map((f) => `user.fields=${f}`), ...plan.userExpansions.map((e) => `expansions=${e}`)];
  if (plan.userExpansions.length > 0) fields.push(...plan.tweetFields.map((f) => `tweet.fields=${f}`));
  return fields.sort();
}

export function tweetFieldSet(plan: XFieldPlan): FieldSet {
  const fields = plan.tweetFields.map((f) => `tweet.fields=${f}`);
  if (plan.expandTweetAuthor) fields.push('expansions=author_id', ...plan.userFields.map((f) => `user.fields=${f}`));
  return fields.sort();
}

/** A field set back as query parameters: values of one parameter joined with commas, as X takes them. */
export function queryParameters(fields: FieldSet): Array<[string, string]> {
  const byParam = new Map<string, string[]>();
  for (const field of fields) {
    const eq = field.indexOf('=');
    const param = field.slice(0, eq);
    byParam.set(param, [...(byParam.get(param) ?? []), field.slice(eq + 1)]);
  }
  return [...byParam].map(([param, values]) => [param, values.join(',')]);
}
