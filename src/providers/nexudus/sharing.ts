import { createHash } from 'node:crypto';
import type { NexudusCredentials } from './token.js';

/**
 * What the replicas of a deployment share about one Nexudus account through Redis (docs/sharing.md, "Sharing upstream calls"): its pacing and its token (`SharedState`; the token for a password login only,
 * sealed with a key derived from the password, so after a password change the old record reads as absent;
 * a configured token is never renewed), both under `nexudusAccount`.
 */

/**
 * How the account is named in Redis keys: a one-way hash (SHA-256, truncated) of the API's address and
 * the account's identity — the username, or for a configured token the token itself — never the
 * identity in clear, never a secret.
 */
export function nexudusAccount(baseUrl: string, credentials: NexudusCredentials): string {
  const identity = credentials.kind === 'password' ? `user\n${credentials.username}` : `token\n${credentials.token}`;
  const hash = createHash('sha256')
    .update(`${baseUrl.replace(/\/+$/, '')}\n${identity}`)
    .digest('hex');
  return `nexudus:${hash.slice(0, 32)}`;
}

/** A stored token lives this long unless renewed: Nexudus's last a week, and a password can always get another. */
export const STORED_TOKEN_LIFETIME_MS = 30 * 24 * 3600 * 1000;
