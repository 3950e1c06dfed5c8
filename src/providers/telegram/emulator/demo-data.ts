/**
 * Deterministic synthetic Telegram users for the embedded demo and the MTProto emulator, as mtcute
 * types them (`tl.RawUser`). Everything is a pure function of the numeric id: no randomness, no
 * clock, so tests and benchmarks see the same profiles on every run and across processes.
 *
 * Users `1..TELEGRAM_DEMO_MAX_ID` exist. Traits by id (chosen so that small ranges hit every case):
 *   lastName absent        id % 7 === 0         phone (999…)      id % 3 === 0
 *   no photo               id % 4 === 0         video avatar       id % 40 === 10
 *   collectible username   id % 25 === 0        status kind        id % 6 (see STATUS_KINDS)
 *   bot                    id % 50 === 0        verified           id % 13 === 0
 *   premium                id % 4 === 1         scam / fake        id % 997 / id % 991 === 0
 *   restricted             id % 499 === 0       support            id === 777
 *   deleted                id % 1000 === 999 (no names, username, phone, photo or status)
 * Boolean flags are set only when true, as a TL constructor is written; mtcute's reader turns the
 * absent ones into `false` (the emulator returns objects as read back from the wire).
 */
import { Long, type tl } from '@mtcute/node';

/** Highest known demo user id; ids `1..TELEGRAM_DEMO_MAX_ID` exist, every other id is unknown. */
export const TELEGRAM_DEMO_MAX_ID = 10_000;

/** The account the emulator acts as (what `inputUserSelf` names): a bot, as in the demo set-up. */
export const TELEGRAM_DEMO_SELF_ID = 1_000_000_001;
export const TELEGRAM_DEMO_SELF_USERNAME = 'demo_bot';

/** 2026-11-01T00:00:00Z in epoch seconds: the fixed "now" around which statuses are placed. */
const STATUS_EPOCH_S = Date.UTC(2026, 10, 1) / 1000;

/**
 * Every 40th user has a video avatar. Not at id % 40 === 0: those ids are multiples of 4, which have
 * no photo at all, so the flag would never show.
 */
const VIDEO_AT = 10;

const LANG_CODES = ['en', 'de', 'ru', 'es'] as const;

/** Indexed by `id % 6`; every kind of `tl.TypeUserStatus`. */
const STATUS_KINDS = [
  'userStatusOnline',
  'userStatusOffline',
  'userStatusRecently',
  'userStatusLastWeek',
  'userStatusLastMonth',
  'userStatusEmpty',
] as const satisfies readonly tl.TypeUserStatus['_'][];

/**
 * The access hash this (emulated) account knows user `id` by. Telegram's are opaque signed 64-bit
 * values, so this mixes the id into both halves; the low half is forced odd, so it is never zero
 * (zero is what a bot sends when it has no hash).
 */
export function demoAccessHash(id: number): Long {
  const low = Math.imul(id ^ 0x5bd1e995, 0x85ebca6b) | 1;
  const high = Math.imul(id, 0xc2b2ae35) ^ 0x27d4eb2f;
  return Long.fromBits(low, high);
}

/** A positive 64-bit photo id (the high half stays below 2^31). */
function demoPhotoId(id: number): Long {
  return Long.fromBits(Math.imul(id, 0x9e3779b1), 0x0100_0000 + id);
}

export function demoIsDeleted(id: number): boolean {
  return id % 1000 === 999;
}

/** Every username of user `id`, the editable one first; none for a deleted account. */
export function demoTelegramUsernames(id: number): string[] {
  if (demoIsDeleted(id)) return [];
  return id % 25 === 0 ? [`tg_user${id}`, `tg_vip${id}`] : [`tg_user${id}`];
}

/**
 * Maps a username (case-insensitive, as on Telegram; no leading `@`) to the demo user who holds it
 * within `1..maxId`: `tg_user<id>` for every live user, `tg_vip<id>` for the collectible holders.
 */
export function demoUserIdForUsername(username: string, maxId: number = TELEGRAM_DEMO_MAX_ID): number | undefined {
  const digits = /^tg_(?:user|vip)([1-9][0-9]{0,15})$/i.exec(username)?.[1];
  if (digits === undefined) return undefined;
  const id = Number(digits);
  if (id > maxId) return undefined;
  const lower = username.toLowerCase();
  return demoTelegramUsernames(id).includes(lower) ? id : undefined;
}

function demoStatus(id: number): tl.TypeUserStatus {
  const kind = STATUS_KINDS[id % STATUS_KINDS.length] ?? 'userStatusEmpty';
  // Within a day of the epoch, spread by id: online until a little after it, offline since before it.
  const offsetS = (id % 1440) * 60;
  switch (kind) {
    case 'userStatusOnline':
      return { _: kind, expires: STATUS_EPOCH_S + offsetS + 300 };
    case 'userStatusOffline':
      return { _: kind, wasOnline: STATUS_EPOCH_S - offsetS };
    default:
      return { _: kind };
  }
}

/** The full `user` constructor of demo user `id` (any positive id; the emulator bounds the range). */
export function demoTelegramUser(id: number): tl.RawUser {
  const user: tl.RawUser = { _: 'user', id, accessHash: demoAccessHash(id) };
  if (demoIsDeleted(id)) {
    // What Telegram sends for a deleted account: the id, its hash and the flag, nothing else.
    user.deleted = true;
    return user;
  }

  user.firstName = 'Demo';
  if (id % 7 !== 0) user.lastName = `User ${id}`;
  const usernames = demoTelegramUsernames(id);
  user.username = usernames[0];
  if (usernames.length > 1) {
    // With a collectible, Telegram lists every username; the editable one is the user's own.
    user.usernames = usernames.map((username, i) =>
      i === 0 ? { _: 'username', username, editable: true, active: true } : { _: 'username', username, active: true },
    );
  }
  if (id % 3 === 0) user.phone = `999${String(id).padStart(7, '0')}`; // Telegram sends digits only
  user.photo =
    id % 4 !== 0
      ? { _: 'userProfilePhoto', photoId: demoPhotoId(id), dcId: 2, ...(id % 40 === VIDEO_AT ? { hasVideo: true } : {}) }
      : { _: 'userProfilePhotoEmpty' };
  user.status = demoStatus(id);
  user.langCode = LANG_CODES[id % LANG_CODES.length];

  if (id % 50 === 0) {
    user.bot = true;
    user.botInfoVersion = 1;
  }
  if (id % 13 === 0) user.verified = true;
  if (id % 4 === 1) user.premium = true;
  if (id % 997 === 0) user.scam = true;
  if (id % 991 === 0) user.fake = true;
  if (id === 777) user.support = true;
  if (id % 499 === 0) {
    user.restricted = true;
    user.restrictionReason = [{ _: 'restrictionReason', platform: 'all', reason: 'terms', text: 'Demo: restricted profile.' }];
  }
  return user;
}

/** The emulated account itself (the answer to `inputUserSelf`). */
export function demoTelegramSelf(): tl.RawUser {
  return {
    _: 'user',
    self: true,
    bot: true,
    id: TELEGRAM_DEMO_SELF_ID,
    accessHash: demoAccessHash(TELEGRAM_DEMO_SELF_ID),
    firstName: 'Demo Bot',
    username: TELEGRAM_DEMO_SELF_USERNAME,
    botInfoVersion: 1,
    status: { _: 'userStatusEmpty' },
  };
}
