/**
 * Bitrix24 REST wire format: `im.user.list.get` and `batch` (the `im.user.list.get`
 * and `batch` pages of Bitrix24's REST documentation). Keys are Bitrix's own (snake_case); the GraphQL mapping is in `resolvers.ts`.
 */

import { z } from 'zod';

/** A date-ish value: an ATOM string (`2018-01-29T17:35:31+03:00`), or `false` for "not set". */
export const BitrixDate = z.union([z.string(), z.literal(false)]);
export type BitrixDate = z.infer<typeof BitrixDate>;

export const BitrixPhones = z.object({
  work_phone: z.string().optional(),
  personal_mobile: z.string().optional(),
  personal_phone: z.string().optional(),
});
export type BitrixPhones = z.infer<typeof BitrixPhones>;

/** An id as Bitrix24 writes it: a number, or (in some methods and versions) its decimal string. */
const BitrixId = z.union([
  z.number().int().positive(),
  z
    .string()
    .regex(/^[1-9][0-9]*$/)
    .transform(Number),
]);

/**
 * A user of `im.user.list.get`. Only `id` is required: what a portal leaves out (older versions,
 * extranet users) reads as "not set", as Bitrix's own `''` and `false` do.
 */
export const BitrixApiUser = z.object({
  id: BitrixId,
  active: z.boolean().optional(),
  name: z.string().optional(),
  first_name: z.string().optional(),
  last_name: z.string().optional(),
  work_position: z.string().optional(),
  color: z.string().optional(),
  /** A URL, or '' when the user has no avatar. */
  avatar: z.string().optional(),
  /** Only when the request asked AVATAR_HR=Y. */
  avatar_hr: z.string().optional(),
  /** 'M', 'F' or ''. */
  gender: z.string().optional(),
  /** DD-MM, or '' when not set. */
  birthday: z.string().optional(),
  extranet: z.boolean().optional(),
  network: z.boolean().optional(),
  bot: z.boolean().optional(),
  connector: z.boolean().optional(),
  external_auth_id: z.string().optional(),
  status: z.string().optional(),
  idle: BitrixDate.optional(),
  last_activity_date: BitrixDate.optional(),
  mobile_last_date: BitrixDate.optional(),
  desktop_last_date: BitrixDate.optional(),
  absent: BitrixDate.optional(),
  departments: z.array(BitrixId).optional(),
  /** An object, or `false` when the user has none. */
  phones: z.union([BitrixPhones, z.literal(false)]).optional(),
});
export type BitrixApiUser = z.infer<typeof BitrixApiUser>;

/** The `time` block every REST answer carries (the emulator writes it whole; the client reads `operating_reset_at`). */
const BitrixTimeSchema = z.object({
  start: z.number(),
  finish: z.number(),
  duration: z.number(),
  processing: z.number(),
  date_start: z.string(),
  date_finish: z.string(),
  operating_reset_at: z.number().optional(),
  operating: z.number().optional(),
});

/** An error answer, or a `result_error` entry of a batch command. */
export const BitrixError = z.object({ error: z.string(), error_description: z.string().optional() });
export type BitrixError = z.infer<typeof BitrixError>;

/** Bitrix (PHP) writes an empty map as `[]`. */
const mapOf = <T extends z.ZodType>(value: T) => z.union([z.record(z.string(), value), z.tuple([])]);

/** `im.user.list.get`: an object keyed by id; an unknown id maps to `null`. */
const BitrixUserList = mapOf(BitrixApiUser.nullable());
export const BitrixUserListResponse = z.object({ result: BitrixUserList, time: BitrixTimeSchema.optional() });
export type BitrixUserListResponse = z.infer<typeof BitrixUserListResponse>;

/** `batch` (always HTTP 200): per-command results and errors. */
export const BitrixBatchResponse = z.object({
  result: z.object({
    result: mapOf(BitrixUserList),
    result_error: mapOf(BitrixError),
    result_total: mapOf(z.number()).optional(),
    result_next: mapOf(z.number()).optional(),
    result_time: mapOf(BitrixTimeSchema).optional(),
  }),
  time: BitrixTimeSchema.optional(),
});
export type BitrixBatchResponse = z.infer<typeof BitrixBatchResponse>;

/** The OAuth server's answer to a refresh (`oauth.bitrix.info/oauth/token/`): a new pair, both rotated. */
export const BitrixTokenResponse = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  expires_in: z.number().optional(),
  expires: z.number().optional(),
  domain: z.string().optional(),
  member_id: z.string().optional(),
  scope: z.string().optional(),
  server_endpoint: z.string().optional(),
  client_endpoint: z.string().optional(),
  status: z.string().optional(),
});
export type BitrixTokenResponse = z.infer<typeof BitrixTokenResponse>;

/** What a failed REST answer says: its error code, and when the method's time budget resets. */
export const BitrixFailure = z.object({
  error: z.string().optional(),
  time: z.object({ operating_reset_at: z.number().optional() }).optional(),
});

/** Bitrix user ids are positive integers in a signed 32-bit column. */
export const BITRIX_ID_PATTERN = /^[1-9][0-9]{0,9}$/;
const BITRIX_MAX_ID = 2_147_483_647;

/** A user id Bitrix24 can have: canonical decimal, 1 to 2^31-1. */
export function isBitrixId(value: string): boolean {
  return BITRIX_ID_PATTERN.test(value) && Number(value) <= BITRIX_MAX_ID;
}
/** Most commands one `batch` call takes. */
export const BITRIX_MAX_BATCH_COMMANDS = 50;

/** What the GraphQL resolvers receive: a user and the portal it came from (the key is `portal id`). */
export interface Bitrix24UserRecord {
  portal: string;
  user: BitrixApiUser;
}
