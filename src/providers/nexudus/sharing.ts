import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { RedisLink } from '../../redis/link.js';
import type { Clock } from '../../upstream/clock.js';
import type { PaceRule, Pacer } from '../../upstream/pacing.js';
import type { RetryPolicy } from '../../upstream/retry.js';
import { accountPacer, leaseMsFor } from '../../upstream/shared-pacer.js';
import { renewalBoundMs, type SharedTokenReplicas } from '../../upstream/shared-token.js';
import { RedisTokenStore } from '../../upstream/token-store.js';
import type { NexudusCredentials } from './token.js';

/**
 * What the replicas of a deployment share about one Nexudus account through Redis (README, "Sharing
 * upstream calls"): its pacing, and its token.
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

/** Every request to the account, the token call included, under one pacer: shared by the replicas when Redis is configured. */
export function nexudusPacer(options: {
  account: string;
  rules: readonly PaceRule[];
  timeoutMs: number;
  clock: Clock;
  redis?: RedisLink;
  logger: Logger;
}): Pacer {
  return accountPacer({
    link: options.redis,
    account: options.account,
    rules: options.rules,
    leaseMs: leaseMsFor(options.timeoutMs),
    clock: options.clock,
    logger: options.logger,
  });
}

/** A stored token lives this long unless renewed: Nexudus's last a week, and a password can always get another. */
const STORED_TOKEN_LIFETIME_MS = 30 * 24 * 3600 * 1000;

/**
 * How the replicas share a password login's token: sealed with a key derived from the password (every
 * replica has it; after a password change, the old record reads as absent), obtained and renewed by one
 * replica at a time. `undefined` without Redis, and for a configured token, which is never renewed.
 */
export function nexudusTokenReplicas(options: {
  account: string;
  credentials: NexudusCredentials;
  redis?: RedisLink;
  clock: Clock;
  timeoutMs: number;
  retry: RetryPolicy;
  logger: Logger;
}): SharedTokenReplicas | undefined {
  const { redis, credentials, clock } = options;
  if (redis === undefined || credentials.kind !== 'password') return undefined;
  return {
    store: new RedisTokenStore({
      link: redis,
      account: options.account,
      secret: credentials.password,
      purpose: `nexudus ${options.account}`,
      ttlMs: STORED_TOKEN_LIFETIME_MS,
    }),
    wallNow: () => clock.wallNow(),
    clock,
    renewalMs: renewalBoundMs(options.timeoutMs, options.retry),
    logger: options.logger,
  };
}
