import { z } from 'zod';
import { credentialText, httpUrl, int, secret } from '../../core/env.js';
import type { Env } from '../../core/types.js';
import type { NexudusCredentials } from './token.js';

export interface NexudusConfig {
  baseUrl: string;
  credentials: NexudusCredentials;
  /** Ids per list call. */
  maxIdsPerCall: number;
  /** Single-record calls in flight at once. */
  fullRecordConcurrency: number;
  /** Most users one operation may ask for when it selects a full-record field (one call each). */
  maxFullRecordsPerOperation: number;
}

/** Nexudus is on with a token, or with a username and password to exchange for one; half a login is an error. */
export const nexudusConfig = z
  .object({
    NEXUDUS_BASE_URL: httpUrl('https://spaces.nexudus.com').describe("The origin Nexudus's API is called at, an http(s) URL."),
    NEXUDUS_TOKEN: secret.describe(
      'A Nexudus bearer token, used as is; setting it turns Nexudus on. Not with `NEXUDUS_USERNAME` and `NEXUDUS_PASSWORD`; ' +
        'set but blank is refused.',
    ),
    NEXUDUS_USERNAME: credentialText.describe(
      'Instead of a token, an account (with the `User-Read` role, or a full administrator) whose token the subgraph obtains ' +
        'and renews itself: required with `NEXUDUS_PASSWORD`, and set but blank is refused.',
    ),
    // Kept as given (a password may hold spaces), but set and empty is refused like every credential.
    NEXUDUS_PASSWORD: z
      .string()
      .optional()
      .refine((v) => v === undefined || v !== '', 'is set but empty: give it a value, or unset it')
      .describe(
        "The password of `NEXUDUS_USERNAME`'s account, required with it: kept as given, spaces included, and set but empty " +
          'is refused.',
      ),
    NEXUDUS_MAX_IDS_PER_CALL: int(1, 500, 100).describe('Ids per list call (`GET /api/sys/users/?id=[...]`), 1–500.'),
    NEXUDUS_FULL_RECORD_CONCURRENCY: int(1, 32, 4).describe(
      'Single-record calls (`GET /api/sys/users/{id}`, for the fields the list call leaves empty) in flight at once, 1–32.',
    ),
    NEXUDUS_MAX_FULL_RECORDS_PER_OPERATION: int(1, 10_000, 50).describe(
      'Most users one operation may ask for when it selects a full-record field (`isAdmin`, `apiAccess`, `mustResetPassword`, ' +
        '`lastAccess`, `businessIds`, `roles`: one call each), 1–10,000; each user beyond answers `null` with `BAD_USER_INPUT`, alone.',
    ),
  })
  .transform((vars, ctx): NexudusConfig | undefined => {
    const problem = (path: string, message: string) => {
      ctx.addIssue({ code: 'custom', path: [path], message });
      return z.NEVER;
    };
    const limits = {
      maxIdsPerCall: vars.NEXUDUS_MAX_IDS_PER_CALL,
      fullRecordConcurrency: vars.NEXUDUS_FULL_RECORD_CONCURRENCY,
      maxFullRecordsPerOperation: vars.NEXUDUS_MAX_FULL_RECORDS_PER_OPERATION,
    };
    if (vars.NEXUDUS_TOKEN !== undefined) {
      if (vars.NEXUDUS_USERNAME !== undefined || vars.NEXUDUS_PASSWORD !== undefined) {
        return problem('NEXUDUS_TOKEN', 'set either it or NEXUDUS_USERNAME and NEXUDUS_PASSWORD, not both');
      }
      return { baseUrl: vars.NEXUDUS_BASE_URL, credentials: { kind: 'token', token: vars.NEXUDUS_TOKEN }, ...limits };
    }
    if (vars.NEXUDUS_USERNAME === undefined && vars.NEXUDUS_PASSWORD === undefined) return undefined;
    if (vars.NEXUDUS_USERNAME === undefined) return problem('NEXUDUS_USERNAME', 'required with NEXUDUS_PASSWORD');
    if (vars.NEXUDUS_PASSWORD === undefined) return problem('NEXUDUS_PASSWORD', 'required with NEXUDUS_USERNAME');
    return {
      baseUrl: vars.NEXUDUS_BASE_URL,
      credentials: { kind: 'password', username: vars.NEXUDUS_USERNAME, password: vars.NEXUDUS_PASSWORD },
      ...limits,
    };
  }) satisfies z.ZodType<NexudusConfig | undefined, Env>;
