import type { Logger } from 'pino';
import type { RedisLink } from '../../redis/link.js';
import type { Clock } from '../../upstream/clock.js';
import type { Pacer } from '../../upstream/pacing.js';
import type { RetryPolicy } from '../../upstream/retry.js';
import { accountPacer, leaseMsFor } from '../../upstream/shared-pacer.js';
import { renewalBoundMs, type SharedTokenReplicas } from '../../upstream/shared-token.js';
import { RedisTokenStore } from '../../upstream/token-store.js';
import type { PortalRate } from './config.js';

/**
 * What the replicas of a deployment share about one Bitrix24 portal through Redis (README, "Sharing
 * upstream calls"): its leaky bucket, and its OAuth pair. Both are named by the portal's configured
 * name, which every replica has and which is no secret.
 */

/** How a portal is named in Redis keys: its name (encoded: a name may hold any character), and a credential scope. */
function account(portal: string, scope: string): string {
  const name = `bitrix24:${encodeURIComponent(portal)}`;
  return scope === '' ? name : `${name}:${encodeURIComponent(scope)}`;
}

/**
 * The portal's leaky bucket, shared by every replica when Redis is configured. `scope` is the
 * credential scope whose requests the bucket counts: '' for all of the portal's requests (Bitrix24
 * counts per portal), or a caller token's one-way hash should its requests ever need a bucket of their own.
 */
export function portalPacer(
  options: { name: string; rate: PortalRate; timeoutMs: number; clock: Clock; redis?: RedisLink; logger: Logger },
  scope = '',
): Pacer {
  return accountPacer({
    link: options.redis,
    account: account(options.name, scope),
    rules: [{ kind: 'bucket', ...options.rate }],
    leaseMs: leaseMsFor(options.timeoutMs),
    clock: options.clock,
    logger: options.logger,
  });
}

/** Bitrix24 keeps a refresh token valid this long: a stored pair older than that is dead anyway. */
const REFRESH_TOKEN_LIFETIME_MS = 180 * 24 * 3600 * 1000;

/**
 * How the replicas share the portal's OAuth pair: sealed with a key derived from the app's client
 * secret (every replica has it; another app's replicas read nothing), renewed by one replica at a time.
 * `undefined` without Redis.
 */
export function portalTokenReplicas(options: {
  name: string;
  clientSecret: string;
  redis?: RedisLink;
  clock: Clock;
  timeoutMs: number;
  retry: RetryPolicy;
  logger: Logger;
}): SharedTokenReplicas | undefined {
  const { redis, clock } = options;
  if (redis === undefined) return undefined;
  return {
    store: new RedisTokenStore({
      link: redis,
      account: account(options.name, ''),
      secret: options.clientSecret,
      purpose: `bitrix24 ${options.name}`,
      ttlMs: REFRESH_TOKEN_LIFETIME_MS,
    }),
    wallNow: () => clock.wallNow(),
    clock,
    renewalMs: renewalBoundMs(options.timeoutMs, options.retry),
    logger: options.logger,
  };
}
