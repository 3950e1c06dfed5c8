/**
 * Nexudus REST wire format: `POST /api/token`, `GET /api/sys/users/?id=[..]` and `GET /api/sys/users/{id}`
 * (Nexudus's REST pages
 * "Get Users by Id" and "Get one User"). Keys are Nexudus' own (PascalCase); the GraphQL mapping lives in
 * `resolvers.ts`.
 *
 * Dates are ISO 8601 UTC strings without fractional seconds (`2025-01-15T10:30:00Z`). The whole record
 * as Nexudus sends it (every field, in wire order) is in the emulator, which writes it.
 */

import { z } from 'zod';

/**
 * A user as the subgraph reads it, from either endpoint: the fields it maps, checked at the boundary.
 * Nexudus writes "not set" as null; a partial record (the list call) may leave the full-record fields
 * out or at their defaults, which is why `batch.ts` never trusts them from there.
 */
export const NexudusUserRecord = z.object({
  Id: z.number().int().positive(),
  FullName: z.string().nullish(),
  Email: z.string().nullish(),
  NewAvatarUrl: z.string().nullish(),
  Active: z.boolean().nullish(),
  Validated: z.boolean().nullish(),
  TwoFactorEnabled: z.boolean().nullish(),
  CreatedOn: z.string().nullish(),
  UpdatedOn: z.string().nullish(),
  UniqueId: z.string().nullish(),
  DefaultBusinessId: z.number().nullish(),
  IsAdmin: z.boolean().nullish(),
  APIAccess: z.boolean().nullish(),
  MustResetPassword: z.boolean().nullish(),
  LastAccess: z.string().nullish(),
  Businesses: z.array(z.number()).nullish(),
  UserRoles: z.array(z.number()).nullish(),
});
export type NexudusUserRecord = z.infer<typeof NexudusUserRecord>;

/** `GET /api/sys/users/?id=[..]`: a bare array of the (partial) records of the ids Nexudus knows. */
export const NexudusUserList = z.array(NexudusUserRecord);

/** What `POST /api/token` grants: a bearer token, its lifetime and a refresh token when it gives one. */
export const NexudusGrant = z.object({
  access_token: z.string().min(1),
  expires_in: z.number().positive().optional(),
  refresh_token: z.string().min(1).optional(),
});

/** A user id as Nexudus accepts it: a canonical positive decimal integer. */
export const NEXUDUS_ID_PATTERN = /^[1-9][0-9]{0,11}$/;
