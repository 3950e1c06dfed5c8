import type { Resolvers } from '../../generated/resolvers-types.js';
import { rejectInvalidId } from '../../upstream/errors.js';
import { X_ID_PATTERN } from './wire.js';

/**
 * X's GraphQL types, mapped from X's wire records. Resolvers only read the record or go through a
 * loader; which fields exist on the record was decided by the field plan before the call.
 */
export const xResolvers: Resolvers = {
  Query: {
    // Root arguments were validated (and counted) before execution: see `guard/input-guard.ts`.
    xUsers: (_parent, { ids }, { x }) => ids.map((id) => x.usersById.load(id)),
    xUsersByUsername: (_parent, { usernames }, { x }) => usernames.map((name) => x.usersByUsername.load(name)),
  },
  XUser: {
    __resolveReference: (reference, { x }) => {
      const id = String(reference.id);
      return X_ID_PATTERN.test(id) ? x.usersById.load(id) : rejectInvalidId('x', id);
    },
    provider: () => 'X',
    displayName: (user) => user.name,
    avatarUrl: (user) => user.profile_image_url ?? null,
    createdAt: (user) => user.created_at ?? null,
    profileImageUrl: (user) => user.profile_image_url ?? null,
    verifiedType: (user) => user.verified_type ?? null,
    publicMetrics: (user) => user.public_metrics ?? null,
    pinnedTweet: (user, _args, { x }) => (user.pinned_tweet_id ? x.tweetsById.load(user.pinned_tweet_id) : null),
    mostRecentTweet: (user, _args, { x }) =>
      user.most_recent_tweet_id ? x.tweetsById.load(user.most_recent_tweet_id) : null,
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
  Tweet: {
    __resolveReference: (reference, { x }) => {
      const id = String(reference.id);
      return X_ID_PATTERN.test(id) ? x.tweetsById.load(id) : rejectInvalidId('x', id);
    },
    createdAt: (tweet) => tweet.created_at ?? null,
    publicMetrics: (tweet) => tweet.public_metrics ?? null,
    author: (tweet, _args, { x }) => (tweet.author_id ? x.usersById.load(tweet.author_id) : null),
  },
  TweetPublicMetrics: {
    retweetCount: (m) => m.retweet_count,
    replyCount: (m) => m.reply_count,
    likeCount: (m) => m.like_count,
    quoteCount: (m) => m.quote_count ?? null,
    bookmarkCount: (m) => m.bookmark_count,
    impressionCount: (m) => m.impression_count,
  },
};

