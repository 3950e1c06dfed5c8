/**
 * Bitrix24 REST wire format: `im.user.list.get` and `batch` (upstreams.md, "Bitrix24 REST"; the method
 * page is in ../shared/seeds/). Keys are Bitrix's own (snake_case); the GraphQL mapping is in `resolvers.ts`.
 */

/** A date-ish value: an ATOM string (`2018-01-29T17:35:31+03:00`), or `false` for "not set". */
export type BitrixDate = string | false;

export interface BitrixPhones {
  work_phone?: string;
  personal_mobile?: string;
  personal_phone?: string;
}

export interface BitrixApiUser {
  id: number;
  active?: boolean;
  name: string;
  first_name: string;
  last_name: string;
  work_position: string;
  color: string;
  /** A URL, or '' when the user has no avatar. */
  avatar: string;
  /** Only when the request asked AVATAR_HR=Y. */
  avatar_hr?: string;
  /** 'M', 'F' or ''. */
  gender: string;
  /** DD-MM, or '' when not set. */
  birthday: string;
  extranet: boolean;
  network: boolean;
  bot: boolean;
  connector: boolean;
  external_auth_id: string;
  status: string;
  idle: BitrixDate;
  last_activity_date: BitrixDate;
  mobile_last_date: BitrixDate;
  desktop_last_date: BitrixDate;
  absent: BitrixDate;
  departments: number[];
  /** An object, or `false` when the user has none. */
  phones: BitrixPhones | false;
}

/** The `time` block every response carries. */
export interface BitrixTime {
  start: number;
  finish: number;
  duration: number;
  processing: number;
  date_start: string;
  date_finish: string;
  /** Epoch seconds when the method's time budget (OPERATION_TIME_LIMIT) resets. */
  operating_reset_at?: number;
  operating?: number;
}

export interface BitrixError {
  error: string;
  error_description?: string;
}

/** `im.user.list.get`: an object keyed by id; an unknown id maps to `null`. An empty map may come as `[]`. */
export interface BitrixUserListResponse {
  result: Record<string, BitrixApiUser | null> | [];
  time: BitrixTime;
}

/** `batch` (always HTTP 200): per-command results and errors; empty maps serialize as `[]`. */
export interface BitrixBatchResponse {
  result: {
    result: Record<string, Record<string, BitrixApiUser | null> | []> | [];
    result_error: Record<string, BitrixError> | [];
    result_total: Record<string, number> | [];
    result_next: Record<string, number> | [];
    result_time: Record<string, BitrixTime> | [];
  };
  time: BitrixTime;
}

/** The OAuth server's answer to a refresh (`oauth.bitrix.info/oauth/token/`). */
export interface BitrixTokenResponse {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  expires?: number;
  domain?: string;
  member_id?: string;
  scope?: string;
  server_endpoint?: string;
  client_endpoint?: string;
  status?: string;
}

/** Bitrix user ids are positive integers. */
export const BITRIX_ID_PATTERN = /^[1-9][0-9]{0,9}$/;
/** Most commands one `batch` call takes. */
export const BITRIX_MAX_BATCH_COMMANDS = 50;

/** What the GraphQL resolvers receive: a user and the portal it came from (the key is `portal id`). */
export interface Bitrix24UserRecord {
  portal: string;
  user: BitrixApiUser;
}
