import type { Resolvers } from '../../generated/resolvers-types.js';
import { xTweets, xUsers, xUsersByUsername } from './batch.js';

/**
 * X's GraphQL types, mapped from X's wire records. Resolvers only read the record or go through a
 * loader; which fields exist on the record was decided by the field plan before the call.
 */
export const xResolvers: Resolvers = {
  Query: {
    xUsers: (_parent, { ids }, context) => ids.map((id) => context.load(xUsers, id)),
    xUsersByUsername: (_parent, { usernames }, context) => usernames.map((name) => context.load(xUsersByUsername, name)),
  },
  XUser: {
    __resolveReference: (reference, context) => context.load(xUsers, reference.id),
    provider: () => 'X',
    displayName: (user) => user.name,
    avatarUrl: (user) => user.profile_image_url ?? null,
    // X always sends `username` (with `id` and `name`): no field to ask for.
    profileUrl: (user) => `https://x.com/${encodeURIComponent(user.username)}`,
    createdAt: (user) => user.created_at ?? null,
    profileImageUrl: (user) => user.profile_image_url ?? null,
    verifiedType: (user) => user.verified_type ?? null,
    publicMetrics: (user) => user.public_metrics ?? null,
    pinnedTweet: (user, _args, context) => (user.pinned_tweet_id ? context.load(xTweets, user.pinned_tweet_id) : null),
    mostRecentTweet: (user, _args, context) => (user.most_recent_tweet_id ? context.load(xTweets, user.most_recent_tweet_id) : null),
  },
  XUserPublicMetrics: {
    followersCount: (m) => m.followers_count,
    followingCount: (m) => m.following_count,
    tweetCount: (m) => m.tweet_count,
    listedCount: (m) => m.listed_count,
    likeCount: (m) => m.like_count ?? null,
  },
  XWithheld: {
    countryCodes: (w) => w.country_codes,
  },
  XTweet: {
    __resolveReference: (reference, context) => context.load(xTweets, reference.id),
    createdAt: (tweet) => tweet.created_at ?? null,
    publicMetrics: (tweet) => tweet.public_metrics ?? null,
    author: (tweet, _args, context) => (tweet.author_id ? context.load(xUsers, tweet.author_id) : null),
  },
  XTweetPublicMetrics: {
    retweetCount: (m) => m.retweet_count,
    replyCount: (m) => m.reply_count,
    likeCount: (m) => m.like_count,
    quoteCount: (m) => m.quote_count ?? null,
    bookmarkCount: (m) => m.bookmark_count,
    impressionCount: (m) => m.impression_count,
  },
};
