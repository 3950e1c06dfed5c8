/**
 * What the replicas of a deployment share about one Bitrix24 portal through Redis (docs/sharing.md, "Sharing upstream calls"): its leaky bucket and its OAuth pair (`SharedState`), both under
 * this name.
 */

/** How a portal is named in Redis keys: by its configured name, which every replica has and which is no secret (encoded: a name may hold any character). */
export function portalAccount(portal: string): string {
  return `bitrix24:${encodeURIComponent(portal)}`;
}

/** Bitrix24 keeps a refresh token valid this long: a stored pair older than that is dead anyway. */
export const REFRESH_TOKEN_LIFETIME_MS = 180 * 24 * 3600 * 1000;
