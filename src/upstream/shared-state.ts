import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { CallBudget } from '../core/lookup.js';
import type { UpstreamSettings } from '../core/settings.js';
import type { RedisLink } from '../redis/link.js';
import { type BudgetSnapshot, RedisWindowBudget, type WindowAssumption, WindowBudget, type WindowReading } from './call-budget.js';
import { type PaceRule, type Pacer, RulePacer } from './pacing.js';
import { MemoryRateBudget, type RateBudget, RedisRateBudget } from './rate-budget.js';
import { leaseMsFor, SharedPacer } from './shared-pacer.js';
import { renewalBoundMs, type SharedTokenReplicas } from './shared-token.js';
import { RedisTokenStore } from './token-store.js';

/**
 * What the replicas of a deployment share about the upstream accounts they call, as a provider asks
 * for it (docs/sharing.md, "Redis: one cache and one budget for every replica"): a pacer per account, the rate
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
  /**
   * The window budget of one endpoint of one account (`call-budget.ts`): what the budget planner takes
   * permits of, and what the endpoint's answers correct. One per provider, credential scope and label:
   * asked twice, the same one. With Redis, one ledger for every replica.
   */
  windowBudget(key: BudgetKey, assumed: WindowAssumption): WindowCallBudget;
  /** The window budgets of the server's own credentials, now: for `/ready` and `/metrics`. */
  budgets(): Promise<BudgetReading[]>;
}

/** Which window a budget counts: a provider's endpoint (`label`), under one credential scope ('' for the server's). */
export interface BudgetKey {
  provider: string;
  scope: string;
  label: string;
}

/** A window budget: permits for the planner, and what answers say of the window. */
export interface WindowCallBudget extends CallBudget {
  note(reading: WindowReading): void | Promise<void>;
  snapshot(): BudgetSnapshot | Promise<BudgetSnapshot>;
}

export interface BudgetReading extends BudgetSnapshot {
  provider: string;
  label: string;
}

/** Window budgets kept at most (one per provider, endpoint and credential scope). */
const MAX_WINDOW_BUDGETS = 10_000;

export function sharedState(
  link: RedisLink | undefined,
  upstream: Pick<UpstreamSettings, 'timeoutMs' | 'retry'>,
  clock: Clock,
  logger: Logger,
): SharedState {
  const windows = new Map<string, { key: BudgetKey; budget: WindowCallBudget }>();
  return {
    windowBudget(key, assumed) {
      const id = [key.provider, key.scope, key.label].join('\u0000');
      let entry = windows.get(id);
      if (entry !== undefined) {
        // Most recently used last: the first entries are the ones to forget.
        windows.delete(id);
        windows.set(id, entry);
      } else {
        // A budget per caller's credential scope: bounded, the least recently used forgotten first. A forgotten
        // one's queue keeps its own; a new one starts from the assumed window, which the next answer corrects.
        if (windows.size >= MAX_WINDOW_BUDGETS) {
          for (const [oldId, old] of windows) {
            if (old.key.scope === '') continue;
            windows.delete(oldId);
            break;
          }
        }
        const budget =
          link === undefined
            ? new WindowBudget(assumed, clock)
            : // The hash tag is the provider and scope: every key a planner script touches for them is on one slot (Redis Cluster).
              new RedisWindowBudget(
                link,
                link.key(`{${encodeURIComponent(key.provider)}:${key.scope}}`, 'budget', encodeURIComponent(key.label)),
                assumed,
                clock,
              );
        entry = { key, budget };
        windows.set(id, entry);
      }
      return entry.budget;
    },
    async budgets() {
      const own = [...windows.values()].filter(({ key }) => key.scope === '');
      return Promise.all(own.map(async ({ key, budget }) => ({ provider: key.provider, label: key.label, ...(await budget.snapshot()) })));
    },
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
