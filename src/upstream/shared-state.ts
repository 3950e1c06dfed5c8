import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { UpstreamSettings } from '../core/settings.js';
import type { RedisLink } from '../redis/link.js';
import { type PaceRule, type Pacer, RulePacer } from './pacing.js';
import { MemoryRateBudget, type RateBudget, RedisRateBudget } from './rate-budget.js';
import { leaseMsFor, SharedPacer } from './shared-pacer.js';
import { renewalBoundMs, type SharedTokenReplicas } from './shared-token.js';
import { RedisTokenStore } from './token-store.js';

/**
 * What the replicas of a deployment share about the upstream accounts they call, as a provider asks
 * for it (README, "Redis: one cache and one budget for every replica"): a pacer per account, the rate
 * budgets an upstream states, an account's rotating token. With `REDIS_URL`, each lives in Redis, so N
 * replicas together keep under one account's limits and renew its token once; without, in this
 * process. A provider names an account and its rules; it never sees Redis, and whether Redis is up or
 * failing is the link's business (`RedisLink.orLocal`).
 */
export interface SharedState {
  /**
   * The pacer of one upstream account: its requests counted against `rules` by every replica. `account`
   * names it in Redis keys: never a secret (a portal's name, a one-way hash of a login).
   */
  pacer(account: string, rules: readonly PaceRule[]): Pacer;
  /** Where the budgets an upstream states in its answers are kept: one replica's 429 stops every replica until the reset. */
  rateBudget(): RateBudget;
  /**
   * How the replicas share an account's token (sealed with a key derived from `secret`, which every
   * replica has and Redis never sees); undefined without Redis: the process renews it alone.
   */
  tokens(options: { account: string; secret: string; purpose: string; ttlMs: number }): SharedTokenReplicas | undefined;
}

export function sharedState(
  link: RedisLink | undefined,
  upstream: Pick<UpstreamSettings, 'timeoutMs' | 'retry'>,
  clock: Clock,
  logger: Logger,
): SharedState {
  return {
    pacer: (account, rules) =>
      link === undefined
        ? new RulePacer(rules, clock)
        : new SharedPacer({ link, account, rules, leaseMs: leaseMsFor(upstream.timeoutMs), clock }),
    rateBudget: () => (link === undefined ? new MemoryRateBudget(clock) : new RedisRateBudget(link, clock)),
    tokens: ({ account, secret, purpose, ttlMs }) =>
      link === undefined
        ? undefined
        : {
            store: new RedisTokenStore({ link, account, secret, purpose, ttlMs }),
            wallNow: () => clock.wallNow(),
            clock,
            renewalMs: renewalBoundMs(upstream.timeoutMs, upstream.retry),
            logger,
          },
  };
}
