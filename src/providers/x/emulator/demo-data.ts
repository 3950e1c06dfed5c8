/**
 * Deterministic synthetic X data for the embedded demo and the X emulator.
 * Everything is a pure function of the numeric id: no randomness, no clock, so tests and benchmarks
 * see the same profiles on every run and across processes.
 *
 * Users `1..DEMO_MAX_ID` exist (the README's demo users). Each user `u` owns two tweets:
 *   `u*1000+1` (pinned by the users with u%3 !== 0; the others simply don't pin it) and
 *   `u*1000+2` (the most recent tweet).
 */
import type { XApiTweet, XApiUser } from '../wire.js';

/** Highest known demo user id; ids `1..DEMO_MAX_ID` exist, every other id is unknown. */
export const DEMO_MAX_ID = 10_000;

/** Tweet ids are `userId * TWEET_SPAN + slot`, slot PINNED_K or MOST_RECENT_K. */
const TWEET_SPAN = 1000;
const PINNED_K = 1;
const MOST_RECENT_K = 2;

// Fixed epochs (ms). Users are created 2009-03-01 + id * ~7.2 h, so 10 000 users span ~8 years;
// their tweets start 2021-01-01, i.e. always after the account was created.
const USER_EPOCH_MS = Date.UTC(2009, 2, 1);
const USER_STEP_S = 7 * 3600 + 13 * 60 + 7;
const TWEET_EPOCH_MS = Date.UTC(2021, 0, 1);
const TWEET_STEP_S = 3 * 3600 + 17 * 60;

const LOCATIONS = ['Berlin, Germany', 'San Francisco, CA', 'Lagos, Nigeria', 'Tokyo, Japan', 'São Paulo, Brazil', 'Remote'];

/** Whole-second timestamp → ISO string; always ends in `.000Z`, like X's. */
function isoAt(epochMs: number, seconds: number): string {
  return new Date(epochMs + seconds * 1000).toISOString();
}

/**
 * Where user `id` falls in the cycle of dates: itself for the demo's users, and beyond them the ids wrap
 * round, so that an emulator that knows ids up to 10^15 (the benchmarks') dates each of them within the
 * same eight years, its tweets still after it. Without the wrap, ids in the millions were created in the
 * 29th century and ids above ~4·10^9 past the end of `Date` (the emulator answered 500).
 */
function dateSlot(id: number): number {
  return ((id - 1) % DEMO_MAX_ID) + 1;
}

/**
 * Parses a canonical positive decimal id (`"42"`, not `"042"` or `"4.2"`) within `1..maxId`.
 * Non-canonical spellings are unknown ids, like on X, where an id is an opaque string.
 */
export function parseDemoUserId(id: string, maxId: number = DEMO_MAX_ID): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined;
  const userId = Number(id);
  return userId <= maxId ? userId : undefined;
}

/** Maps a username (case-insensitive, as on X) to its demo user id, if it names a known user. */
export function demoUserIdForUsername(username: string, maxId: number = DEMO_MAX_ID): number | undefined {
  const digits = /^user([1-9][0-9]{0,10})$/i.exec(username)?.[1];
  return digits === undefined ? undefined : parseDemoUserId(digits, maxId);
}

export function demoXUsername(id: number): string {
  return `user${id}`;
}

export function demoPinnedTweetId(id: number): string | undefined {
  return id % 3 !== 0 ? String(id * TWEET_SPAN + PINNED_K) : undefined;
}

export function demoMostRecentTweetId(id: number): string {
  return String(id * TWEET_SPAN + MOST_RECENT_K);
}

/** The full profile of demo user `id` (every field of XApiUser that applies). */
export function demoXUser(id: number): XApiUser {
  const verified = id % 5 === 0;
  const user: XApiUser = {
    id: String(id),
    name: `Demo User ${id}`,
    username: demoXUsername(id),
    created_at: isoAt(USER_EPOCH_MS, dateSlot(id) * USER_STEP_S),
    description: `Synthetic demo profile #${id}. Not a real person.`,
    location: LOCATIONS[id % LOCATIONS.length] ?? 'Remote',
    url: `https://example.com/u${id}`,
    profile_image_url: `https://pbs.twimg.com/profile_images/${id}/avatar_normal.jpg`,
    protected: id % 17 === 0,
    verified,
    verified_type: verified ? 'blue' : 'none',
    public_metrics: {
      followers_count: (id * 37) % 100_000,
      following_count: (id * 13) % 5_000,
      // Every demo user has at least its two tweets.
      tweet_count: 2 + ((id * 7) % 50_000),
      listed_count: id % 50,
      like_count: (id * 11) % 20_000,
    },
    most_recent_tweet_id: demoMostRecentTweetId(id),
  };
  const pinned = demoPinnedTweetId(id);
  if (pinned !== undefined) user.pinned_tweet_id = pinned;
  if (id % 97 === 0) user.withheld = { country_codes: ['DE'], scope: 'user' };
  return user;
}

/**
 * The demo tweet with this id, or undefined when no such tweet exists.
 * Only users `1..maxKnownId` have tweets (`u*1000+1` exists even when the user doesn't pin it).
 */
export function demoXTweet(tweetId: string, maxKnownId: number = DEMO_MAX_ID): XApiTweet | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(tweetId)) return undefined;
  const tweetNumber = Number(tweetId);
  const slot = tweetNumber % TWEET_SPAN;
  const authorId = (tweetNumber - slot) / TWEET_SPAN;
  if (authorId < 1 || authorId > maxKnownId) return undefined;
  if (slot !== PINNED_K && slot !== MOST_RECENT_K) return undefined;
  const pinned = slot === PINNED_K;
  const author = demoXUsername(authorId);
  return {
    id: tweetId,
    text: pinned ? `Hello from @${author}, demo tweet ${tweetId}.` : `Latest from @${author}: demo tweet ${tweetId}.`,
    edit_history_tweet_ids: [tweetId],
    author_id: String(authorId),
    created_at: isoAt(TWEET_EPOCH_MS, dateSlot(authorId) * TWEET_STEP_S + (pinned ? 0 : 3600)),
    lang: 'en',
    public_metrics: {
      retweet_count: (authorId * 3 + slot) % 500,
      reply_count: (authorId * 5 + slot) % 300,
      like_count: (authorId * 17 + slot) % 5_000,
      quote_count: (authorId + slot) % 50,
      // The spec (2.159) requires these two in Tweet.public_metrics, even though wire.ts makes them optional.
      bookmark_count: (authorId * 2 + slot) % 100,
      impression_count: (authorId * 101 + slot) % 100_000,
    },
  };
}
