import type { Resolvers } from '../../generated/resolvers-types.js';
import { nexudusUsers } from './batch.js';

/**
 * Nexudus's GraphQL type, mapped from its PascalCase records. The full-record fields read what only a
 * full record carries; the loader fetched full records whenever the operation selects one of them.
 */
export const nexudusResolvers: Resolvers = {
  Query: {
    nexudusUsers: (_parent, { ids }, context) => ids.map((id) => context.load(nexudusUsers, id)),
  },
  NexudusUser: {
    __resolveReference: (reference, context) => context.load(nexudusUsers, reference.id),
    id: (user) => String(user.Id),
    provider: () => 'NEXUDUS',
    displayName: (user) => user.FullName || null,
    avatarUrl: (user) => user.NewAvatarUrl || null,
    username: () => null,
    profileUrl: () => null,
    fullName: (user) => user.FullName || null,
    email: (user) => user.Email || null,
    active: (user) => user.Active === true,
    validated: (user) => user.Validated === true,
    twoFactorEnabled: (user) => user.TwoFactorEnabled === true,
    createdOn: (user) => isoDate(user.CreatedOn),
    updatedOn: (user) => isoDate(user.UpdatedOn),
    uniqueId: (user) => user.UniqueId || null,
    defaultBusinessId: (user) => (user.DefaultBusinessId == null ? null : String(user.DefaultBusinessId)),
    isAdmin: (user) => user.IsAdmin ?? null,
    apiAccess: (user) => user.APIAccess ?? null,
    mustResetPassword: (user) => user.MustResetPassword ?? null,
    lastAccess: (user) => isoDate(user.LastAccess),
    businessIds: (user) => (user.Businesses ?? []).map(String),
    roles: (user) => (user.UserRoles ?? []).map(String),
  },
};

/** Nexudus dates are ISO 8601 (`2025-01-15T10:30:00Z`); normalized to milliseconds in UTC. */
function isoDate(value: string | null | undefined): string | null {
  if (!value) return null;
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : new Date(time).toISOString();
}
