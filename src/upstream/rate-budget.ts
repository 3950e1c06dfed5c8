import type { Clock } from '../core/clock.js';
import type { RedisLink } from '../redis/link.js';
import { LuaScript } from '../redis/lua-script.js';

/**
 * An upstream's rate-limit budget as its answers state it (X: `x-rate-limit-remaining` and
 * `x-rate-limit-reset` on every response). Once an answer says nothing is left, calls under the same
 * key fail fast until the reset instead of spending a 429 to hear it again.
 *
 * A budget is kept per provider, credential scope and call label: X counts per app (or per user token)
 * and per endpoint. Where it is kept is the store's business: this process's memory, or Redis, so that
 * one replica's 429 stops every replica.
 */
export interface RateBudgetKey {
  /** The provider's name (`x`). */
  provider: string;
  /** '' for the server's own credentials, else the one-way hash of the caller's (`UpstreamRequest.scope`). */
  scope: string;
  /** The call's label (`GET /2/users`): each endpoint has its own budget. */
  label: string;
}

/** What one answer said about its budget. */
export interface BudgetState {
  /** Calls left in the current window. */
  remaining: number;
  /** Milliseconds from now until the window resets. */
  resetInMs: number;
}

export interface RateBudget {
  /** How long calls under `key` must still wait (ms); 0 when they may go. Never rejects. */
  blockedForMs(key: RateBudgetKey): Promise<number>;
  /**
   * Notes what an answer said. Resolves once the note is where the next call's check reads it (for a
   * shared store, written to Redis, or given up on); never rejects.
   */
  note(key: RateBudgetKey, state: BudgetState): Promise<void>;
}

/**
 * Answers of one window do not come back in the order they were counted: a call that left before the
 * window was spent may answer `remaining: 1` after another's `remaining: 0`. Such a late answer must not
 * lift the block; an answer whose window resets later than the block's (a new window) does. Resets read
 * at different moments differ by the time between the readings (and X's are whole seconds), so "later"
 * means by more than this.
 */
const SAME_WINDOW_MS = 1_000;

/**
 * A block is forgotten when it is next read after its reset; with a credential scope per caller, many are
 * never read again. Past this many held, expired ones are swept before another is added.
 */
const SWEEP_AT = 1_000;

/** The budget in this process's memory, on `clock` (monotonic): what one replica alone knows. */
export class MemoryRateBudget implements RateBudget {
  /** Key -> time on `clock` before which calls must not go. */
  private readonly blockedUntil = new Map<string, number>();

  constructor(private readonly clock: Clock) {}

  async blockedForMs(key: RateBudgetKey): Promise<number> {
    return this.blockedForMsNow(key);
  }

  /** `blockedForMs` without a promise. */
  blockedForMsNow(key: RateBudgetKey): number {
    const id = localId(key);
    const until = this.blockedUntil.get(id);
    if (until === undefined) return 0;
    const waitMs = until - this.clock.now();
    if (waitMs > 0) return waitMs;
    this.blockedUntil.delete(id);
    return 0;
  }

  async note(key: RateBudgetKey, state: BudgetState): Promise<void> {
    this.noteNow(key, state);
  }

  /**
   * `note` without a promise; returns what changed: `blocked` (a block set or moved later), `lifted` (an
   * answer of a later window ended the block), or `unchanged`.
   */
  noteNow(key: RateBudgetKey, { remaining, resetInMs }: BudgetState): 'blocked' | 'lifted' | 'unchanged' {
    const id = localId(key);
    const until = this.clock.now() + resetInMs;
    const current = this.blockedUntil.get(id);
    if (remaining <= 0) {
      if (resetInMs <= 0 || (current !== undefined && current >= until)) return 'unchanged';
      if (current === undefined && this.blockedUntil.size >= SWEEP_AT) this.sweep();
      this.blockedUntil.set(id, until);
      return 'blocked';
    }
    if (current === undefined || until <= current + SAME_WINDOW_MS) return 'unchanged';
    this.blockedUntil.delete(id);
    return 'lifted';
  }

  /** Blocks whose reset passed: a caller's scope that is never used again must not stay here for good. */
  private sweep(): void {
    const now = this.clock.now();
    for (const [id, until] of this.blockedUntil) if (until <= now) this.blockedUntil.delete(id);
  }

  /** Blocks held now, expired or not (tests). */
  get size(): number {
    return this.blockedUntil.size;
  }
}

/**
 * The budget shared by every replica through Redis: a block is one key per provider, scope and label,
 * holding the wall-clock time of the reset (epoch ms) and expiring then (`PX`), so that a 429 one
 * replica heard stops the others' calls too, until the reset.
 *
 * Local first: a block this process knows (heard itself or already read from Redis) answers without a
 * round trip; Redis is read only when the link is up. Any Redis failure answers from memory alone: a
 * request never fails, nor waits longer than the link's command timeout, because of Redis.
 *
 * Replicas' wall clocks may differ: the reset is X's own epoch time, read against each replica's clock
 * as a single replica already does, so sharing adds no skew of its own.
 */
export class RedisRateBudget implements RateBudget {
  private readonly local: MemoryRateBudget;

  constructor(
    private readonly link: RedisLink,
    private readonly clock: Clock,
  ) {
    this.local = new MemoryRateBudget(clock);
  }

  async blockedForMs(key: RateBudgetKey): Promise<number> {
    const known = this.local.blockedForMsNow(key);
    if (known > 0) return known;
    const stored = await this.link.orLocal(
      'rate-budget',
      (client) => client.get(this.redisKey(key)),
      () => null,
    );
    const resetAt = stored === null ? Number.NaN : Number(stored);
    if (!Number.isFinite(resetAt)) return 0;
    const waitMs = resetAt - this.clock.wallNow();
    if (waitMs <= 0) return 0;
    // Known here from now on: the next calls until the reset cost no round trip.
    this.local.noteNow(key, { remaining: 0, resetInMs: waitMs });
    return waitMs;
  }

  async note(key: RateBudgetKey, state: BudgetState): Promise<void> {
    const change = this.local.noteNow(key, state);
    // Nothing new to tell the others: most answers, which leave budget and lift nothing.
    if (change === 'unchanged') return;
    const resetAt = String(this.clock.wallNow() + state.resetInMs);
    await this.link.orLocal(
      'rate-budget',
      async (client) => {
        if (change === 'blocked') await BLOCK.run(client, [this.redisKey(key)], [resetAt, Math.ceil(state.resetInMs)]);
        else await LIFT.run(client, [this.redisKey(key)], [resetAt, SAME_WINDOW_MS]);
      },
      () => undefined,
    );
  }

  /** `<prefix>budget:<provider>:<scope>:<label>`, each part encoded so that no part can reach into another. */
  private redisKey(key: RateBudgetKey): string {
    return this.link.key('budget', encodeURIComponent(key.provider), encodeURIComponent(key.scope), encodeURIComponent(key.label));
  }
}

/** One string per key for the in-memory map (NUL never appears in a name, a hash or a label). */
function localId(key: RateBudgetKey): string {
  return `${key.provider}\u0000${key.scope}\u0000${key.label}`;
}

/**
 * Sets the block (ARGV[1]: reset, epoch ms; ARGV[2]: ms until then) unless one resetting as late or later
 * is there already: two replicas' notes of different windows keep the later one, whatever their order.
 */
const BLOCK = new LuaScript(`
local current = tonumber(redis.call('GET', KEYS[1]))
if current == nil or current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`);

/**
 * Lifts the block when the answer's window (ARGV[1]: its reset, epoch ms) resets later than the block's
 * by more than ARGV[2] ms: a new window began. A late answer of the blocked window leaves it.
 */
const LIFT = new LuaScript(`
local current = tonumber(redis.call('GET', KEYS[1]))
if current ~= nil and current + tonumber(ARGV[2]) < tonumber(ARGV[1]) then
  return redis.call('DEL', KEYS[1])
end
return 0`);
