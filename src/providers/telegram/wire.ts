import type { tl } from '@mtcute/node';

/**
 * Telegram's MTProto objects as mtcute types them (camelCase fields, `_` discriminators). These are the
 * records the GraphQL resolvers receive; the mapping lives in `resolvers.ts`.
 *
 * Unlike the HTTP providers' JSON, these need no schema check of ours: MTProto is a binary protocol
 * whose every object is decoded by mtcute's TL reader against Telegram's own schema (the layer), so a
 * body of the wrong shape fails to decode (an error the client reports as UPSTREAM_UNAVAILABLE) rather
 * than reaching the resolvers.
 */
export type TelegramApiUser = tl.RawUser;
export type TelegramApiUserStatus = tl.TypeUserStatus;
export type TelegramApiProfilePhoto = tl.RawUserProfilePhoto;

/**
 * A Telegram user id: a positive integer. Ids are 64-bit in the protocol but mtcute (and Telegram's
 * current id space) keeps them within JavaScript's safe integers, which the guard checks too.
 */
const TELEGRAM_ID_PATTERN = /^[1-9][0-9]{0,15}$/;
/** Usernames: 4-32 of [A-Za-z0-9_] starting with a letter (5+ to register; 4 exist as collectibles). */
export const TELEGRAM_USERNAME_PATTERN = /^@?[A-Za-z][A-Za-z0-9_]{3,31}$/;

export function isTelegramId(value: string): boolean {
  return TELEGRAM_ID_PATTERN.test(value) && Number(value) <= Number.MAX_SAFE_INTEGER;
}

/** Usernames are case-insensitive and may be written with a leading `@`. */
export function normalizeUsername(username: string): string {
  return username.replace(/^@/, '').toLowerCase();
}
