import type { Clock } from '../core/clock.js';
import type { CallBudget, Permit } from '../core/lookup.js';
import type { RedisLink } from '../redis/link.js';
import { LuaScript } from '../redis/lua-script.js';
import { RedisSharedQueue } from './shared-queue.js';
import { reserveOf, SAME_WINDOW_MS, TAKE_PERMIT, TOKEN_HORIZON_MS, type WindowAssumption } from './window-ledger.js';

export type { WindowAssumption } from './window-ledger.js';

/**
 * What an upstream allows the calls of one account (a credential scope) to one endpoint, as the budget
 * planner (`src/batching/planner.ts`) asks before a call goes: the upstream's window (calls left, and
 * when it resets), and the pace that window sustains until then.
 *
 * - **`window`**: granted while the window has calls left. A full batch, or one whose oldest key is due,
 *   asks this: it goes as long as the upstream would take it.
 * - **`paced`**: granted only at the pace the rest of the window sustains, `(remaining − reserve) / time to
 *   reset`, kept as a bucket of tokens that holds at most a second's worth. A batch that is not full asks
 *   this: it goes at once when the budget can afford it, and waits to fill when it cannot. An ample
 *   window (X's benchmark: a billion calls) grants every time: nothing is held.
 *
 * Every call takes one permit and one token (tokens may fall below zero: calls that went full or due pay
 * for later paced ones). An answer's `x-rate-limit-*` corrects the count (`note`); until the first answer
 * the window the upstream documents is assumed (X: 300 calls per 15 minutes for `GET /2/users`).
 */

/** What one answer said of its window. */
export interface WindowReading {
  remaining: number;
  resetInMs: number;
  /** The window's size, when the answer says (`x-rate-limit-limit`). */
  limit?: number;
}

/** A budget's state, for `/ready` and the metrics. */
export interface BudgetSnapshot {
  limit: number;
  remaining: number;
  resetInMs: number;
}

/** A window's budget in this process's memory, on `clock` (monotonic). */
export class WindowBudget implements CallBudget {
  private limit: number;
  private remaining: number;
  private resetAt: number;
  private tokens: number;
  private refilledAt: number;
  /** Whether an answer has said what the window is: until then it is the one the upstream documents. */
  private confirmed = false;

  constructor(
    private readonly assumed: WindowAssumption,
    private readonly clock: Clock,
  ) {
    const now = clock.now();
    this.limit = assumed.limit;
    this.remaining = assumed.limit;
    this.resetAt = now + assumed.windowMs;
    this.refilledAt = now;
    this.tokens = this.capacity(now);
  }

  take(kind: 'window' | 'paced'): Permit {
    const now = this.clock.now();
    this.refill(now);
    const resetInMs = Math.ceil(Math.max(0, this.resetAt - now));
    if (this.remaining < 1) return { granted: false, retryInMs: resetInMs, exhausted: true };
    if (kind === 'paced') {
      if (this.remaining - reserveOf(this.limit) < 1) return { granted: false, retryInMs: resetInMs, exhausted: false };
      if (this.tokens < 1)
        return { granted: false, retryInMs: Math.min(resetInMs, Math.ceil((1 - this.tokens) / this.rate(now))), exhausted: false };
    }
    this.remaining -= 1;
    // Never more than a window's worth in debt.
    this.tokens = Math.max(-this.limit, this.tokens - 1);
    return { granted: true };
  }

  /**
   * What an answer said: the same window's count only goes down (answers pass one another); another window
   * (a new one, or the assumed one corrected by the first answer) is taken as the upstream says.
   */
  note(reading: WindowReading): void {
    const now = this.clock.now();
    this.refill(now);
    const resetAt = now + Math.max(0, reading.resetInMs);
    const limit = reading.limit !== undefined && reading.limit > 0 ? reading.limit : this.limit;
    const sameWindow = this.confirmed && limit === this.limit && Math.abs(resetAt - this.resetAt) <= SAME_WINDOW_MS;
    this.limit = limit;
    this.confirmed = true;
    if (sameWindow) {
      this.remaining = Math.min(this.remaining, reading.remaining);
    } else {
      // Another window than the one counted (a new one, or the assumed one corrected, however close its
      // reset): the upstream's word stands.
      this.remaining = reading.remaining;
      this.resetAt = resetAt;
      this.tokens = Math.min(this.tokens, this.capacity(now));
    }
  }

  snapshot(): BudgetSnapshot {
    const now = this.clock.now();
    this.refill(now);
    return { limit: this.limit, remaining: this.remaining, resetInMs: Math.max(0, this.resetAt - now) };
  }

  /** Past the reset a new window starts, as large as the last one; tokens accrue at the pace until now. */
  private refill(now: number): void {
    if (now >= this.resetAt) {
      this.remaining = this.limit;
      // The upstream's windows are fixed: the next one starts at the reset, whenever we notice.
      const windows = Math.floor((now - this.resetAt) / this.assumed.windowMs) + 1;
      this.resetAt += windows * this.assumed.windowMs;
      this.refilledAt = now;
      this.tokens = Math.max(this.tokens, 0);
    }
    const rate = this.rate(now);
    this.tokens = Math.min(this.capacity(now), this.tokens + rate * Math.max(0, now - this.refilledAt));
    this.refilledAt = now;
  }

  /** Calls per millisecond the rest of the window sustains, the reserve kept back. */
  private rate(now: number): number {
    return Math.max(0, this.remaining - reserveOf(this.limit)) / Math.max(1, this.resetAt - now);
  }

  private capacity(now: number): number {
    return Math.max(1, this.rate(now) * TOKEN_HORIZON_MS);
  }
}

/**
 * A window's budget shared by every replica through Redis (with `REDIS_URL`): the same ledger as
 * `WindowBudget`, kept in one hash and changed only by scripts, so that two replicas' permits are never
 * taken from the same call of the window. Time is Redis's own (`TIME`), the one clock every replica
 * reads, unless a test gives its own. Any Redis failure answers from this process's `WindowBudget`.
 */
export class RedisWindowBudget implements CallBudget {
  private readonly local: WindowBudget;

  constructor(
    private readonly link: RedisLink,
    /** The ledger's key: its hash tag is the provider and scope, so that the shared queue's scripts may touch it too. */
    private readonly key: string,
    private readonly assumed: WindowAssumption,
    clock: Clock,
    /** Epoch ms for the scripts (tests); Redis `TIME` when absent. */
    private readonly now?: () => number,
  ) {
    this.local = new WindowBudget(assumed, clock);
  }

  async take(kind: 'window' | 'paced'): Promise<Permit> {
    return this.link.orLocal(
      'rate-budget',
      async (client) => {
        const answer = (await TAKE.run(
          client,
          [this.key],
          [this.now?.() ?? '', kind, this.assumed.limit, this.assumed.windowMs, TOKEN_HORIZON_MS],
          this.link.replicaAckMs,
        )) as [number, number, number];
        const [granted, retryInMs, exhausted] = answer.map(Number) as [number, number, number];
        return granted === 1 ? { granted: true } : { granted: false, retryInMs: Math.max(0, retryInMs), exhausted: exhausted === 1 };
      },
      () => this.local.take(kind),
    );
  }

  async note(reading: WindowReading): Promise<void> {
    this.local.note(reading);
    await this.link.orLocal(
      'rate-budget',
      async (client) => {
        await NOTE.run(
          client,
          [this.key],
          [
            this.now?.() ?? '',
            reading.remaining,
            Math.max(0, reading.resetInMs),
            reading.limit ?? '',
            SAME_WINDOW_MS,
            this.assumed.limit,
            this.assumed.windowMs,
          ],
          this.link.replicaAckMs,
        );
      },
      () => undefined,
    );
  }

  /**
   * The queue of misses shared with every replica, beside this ledger (the same hash tag): `queue` names
   * a lookup and partition.
   */
  share(queue: string): RedisSharedQueue {
    let shared = this.queues.get(queue);
    if (shared === undefined) {
      const tag = this.key.slice(0, this.key.indexOf('}') + 1);
      shared = new RedisSharedQueue(this.link, this.key, `${tag}:queue:${queue}`, this.assumed, this.local, this.now);
      this.queues.set(queue, shared);
    }
    return shared;
  }

  private readonly queues = new Map<string, RedisSharedQueue>();

  async snapshot(): Promise<BudgetSnapshot> {
    return this.link.orLocal(
      'rate-budget',
      async (client) => {
        const [limit, remaining, resetInMs] = (
          (await SNAPSHOT.run(client, [this.key], [this.now?.() ?? '', this.assumed.limit, this.assumed.windowMs])) as number[]
        ).map(Number) as [number, number, number];
        return { limit, remaining, resetInMs };
      },
      () => this.local.snapshot(),
    );
  }
}

/** ARGV: now ('' for Redis's own), kind, assumed limit, window ms, token horizon ms. Answers granted (1/0), retry in ms, exhausted (1/0). */
const TAKE = new LuaScript(`${TAKE_PERMIT}
return takePermit(ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))`);

/** ARGV: now, remaining, reset in ms, limit ('' when unknown), same-window ms, assumed limit, window ms. */
const NOTE = new LuaScript(`${TAKE_PERMIT}
local l = load(tonumber(ARGV[6]), tonumber(ARGV[7]))
refill(l, 1000)
local limit = tonumber(ARGV[4]) or l.limit
local resetAt = now + tonumber(ARGV[3])
local sameWindow = l.confirmed == 1 and limit == l.limit and math.abs(resetAt - l.resetAt) <= tonumber(ARGV[5])
l.limit = limit
l.confirmed = 1
if sameWindow then
  l.remaining = math.min(l.remaining, tonumber(ARGV[2]))
else
  l.remaining = tonumber(ARGV[2])
  l.resetAt = resetAt
  l.tokens = math.min(l.tokens, capacity(l, 1000))
end
save(l)
return 1`);

/** ARGV: now, assumed limit, window ms. Answers limit, remaining, reset in ms. */
const SNAPSHOT = new LuaScript(`${TAKE_PERMIT}
local l = load(tonumber(ARGV[2]), tonumber(ARGV[3]))
refill(l, 1000)
return { l.limit, l.remaining, math.max(0, l.resetAt - now) }`);

/**
 * An upstream that hides its limit (Telegram: `FLOOD_WAIT_X` says only how long to wait): nothing is held
 * until it floods; then no call goes until the wait is over, and paced calls go at half the rate of the
 * minute before, which grows by one call a minute for every minute without a flood (additive increase,
 * multiplicative decrease), until it is out of the way again.
 */
export class HiddenLimitBudget implements CallBudget {
  /** Calls per ms; Infinity: not limited. */
  private rate = Number.POSITIVE_INFINITY;
  private blockedUntil = 0;
  private tokens = 1;
  private refilledAt: number;
  private increasedAt: number;
  private readonly started: number[] = [];

  constructor(private readonly clock: Clock) {
    this.refilledAt = clock.now();
    this.increasedAt = this.refilledAt;
  }

  take(kind: 'window' | 'paced'): Permit {
    const now = this.clock.now();
    if (now < this.blockedUntil) return { granted: false, retryInMs: this.blockedUntil - now, exhausted: true };
    this.increase(now);
    if (kind === 'paced' && Number.isFinite(this.rate)) {
      this.tokens = Math.min(Math.max(1, this.rate * TOKEN_HORIZON_MS), this.tokens + this.rate * (now - this.refilledAt));
      this.refilledAt = now;
      if (this.tokens < 1) return { granted: false, retryInMs: Math.ceil((1 - this.tokens) / this.rate), exhausted: false };
    }
    // Unlimited, nothing is banked or owed: the pace starts afresh at the first flood.
    if (Number.isFinite(this.rate)) this.tokens -= 1;
    this.started.push(now);
    while (this.started.length > 0 && this.started[0]! < now - 60_000) this.started.shift();
    return { granted: true };
  }

  /** The upstream said to wait `waitMs` (FLOOD_WAIT): halve the pace, and hold every call until then. */
  flooded(waitMs: number): void {
    const now = this.clock.now();
    this.blockedUntil = Math.max(this.blockedUntil, now + waitMs);
    const lastMinute = this.started.filter((at) => at >= now - 60_000).length / 60_000;
    this.rate = Math.max(1 / 60_000, (Number.isFinite(this.rate) ? this.rate : lastMinute) / 2);
    this.tokens = Math.min(this.tokens, 0);
    this.increasedAt = now;
    this.refilledAt = now;
  }

  /** One call a minute more for every minute without a flood; far enough above the traffic, not limited at all. */
  private increase(now: number): void {
    if (!Number.isFinite(this.rate)) return;
    const minutes = Math.floor((now - this.increasedAt) / 60_000);
    if (minutes <= 0) return;
    this.rate += minutes / 60_000;
    this.increasedAt += minutes * 60_000;
    if (this.rate > 100 / 1000) this.rate = Number.POSITIVE_INFINITY;
  }

  snapshot(): { ratePerMinute: number | null; blockedForMs: number } {
    return {
      ratePerMinute: Number.isFinite(this.rate) ? this.rate * 60_000 : null,
      blockedForMs: Math.max(0, this.blockedUntil - this.clock.now()),
    };
  }
}

/**
 * An upstream whose limits a client-side pacer keeps (Bitrix24's leaky bucket, Nexudus's windows): a
 * full or due batch goes to the pacer at once and waits there; a batch that is not full goes only when
 * the pacer would let it through now, and waits to fill while the pacer is busy, since it would wait
 * there anyway.
 */
export class PacedBudget implements CallBudget {
  constructor(private readonly readyInMs: () => number) {}

  take(kind: 'window' | 'paced'): Permit {
    if (kind === 'window') return { granted: true };
    const waitMs = this.readyInMs();
    return waitMs <= 0 ? { granted: true } : { granted: false, retryInMs: Number.isFinite(waitMs) ? waitMs : 20, exhausted: false };
  }
}
