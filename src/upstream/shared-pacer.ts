import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { type Clock, systemClock } from '../core/clock.js';
import type { RedisLink } from '../redis/link.js';
import { LuaScript } from '../redis/lua-script.js';
import { UNANSWERED_HOLD_MS } from './http.js';
import { type PaceRule, type Pacer, type Permit, RulePacer } from './pacing.js';

/**
 * Client-side pacing of one upstream account shared by every replica (docs/sharing.md, "Sharing upstream calls"): the state `RulePacer` keeps in memory lives in Redis, so N replicas together keep under the
 * account's limits instead of each one under them alone. Same rules, same counting (read RulePacer's
 * comment): a request counts as arriving as late as possible, a finished one at its answer time and
 * one in flight against every limit.
 *
 * One Lua script decides atomically, on one clock for every replica (Redis `TIME`): it grants a
 * request (recording a *lease* that expires, so that a replica that dies mid-request cannot block the
 * account forever: an expired lease counts as a request answered at its expiry), or says how long to
 * wait. Releasing a permit moves its lease to the finished record: a window's answer times in a sorted
 * set trimmed to the longest window, a bucket's level and time in a hash.
 *
 * Waiting: a told wait is slept on the injected clock, then the script is asked again. When requests in
 * flight block every rule (an infinite wait), nothing says when: this pacer asks again after `pollMs`
 * (or sooner, when a lease expires sooner, or when a permit of this process is released). Polling, not
 * pub/sub, because a subscription needs a connection of its own per process, and the cost of polling is
 * small: only the first waiter of a process asks Redis (the others queue behind it here, first come first
 * served), and the one rule that blocks on requests in flight in practice (Nexudus's one per 100 ms)
 * makes the next request wait 100 ms after an answer anyway, which a 25 ms poll barely delays.
 *
 * Redis absent from a call (link down, a command failed or timed out, an answer of the wrong shape): the
 * waiters go to a local `RulePacer` with the same rules, one process's view, as without Redis; the link
 * then leaves Redis alone for this use a second (`RedisLink.orLocal`), so a Redis that is up but failing
 * costs one command timeout a second, not one per request. A permit is always released to the pacer that granted it. A lease whose grant or
 * release got lost with Redis expires by itself.
 *
 * A value read from Redis cannot make a wait unbounded: the script clamps leases to one lease time from
 * now, answer times to now and bucket levels to the burst, and this side caps every sleep; a caller's
 * signal bounds the whole wait in any case.
 */
export interface SharedPacerOptions {
  link: RedisLink;
  /**
   * The upstream account whose requests are paced: every replica pacing it names it the same way. It is
   * part of Redis keys: never a secret (a portal's name, a one-way hash of an account's identity).
   */
  account: string;
  rules: readonly PaceRule[];
  /**
   * How long a granted request counts as in flight when its replica never says it finished (it died):
   * a bound on one attempt and the hold of an unanswered one (`leaseMsFor`).
   */
  leaseMs: number;
  /** What waits are timed on; the system clock unless a test moves its own. */
  clock?: Clock;
  /**
   * The time the script reads (ms) instead of Redis `TIME`: tests, whose clock is manual. In production
   * every replica must read the same clock, which only Redis's is.
   */
  now?: () => number;
  /** How soon to ask again while requests in flight block every rule (ms). */
  pollMs?: number;
}

/** Polls while requests in flight block: short against a 100 ms window, a few dozen calls a second at most per process. */
const DEFAULT_POLL_MS = 25;

/**
 * Covers what can pass between a grant and the start of the attempt, and event-loop delays, beyond the
 * attempt's own deadline and the unanswered hold.
 */
const LEASE_MARGIN_MS = 1_000;

/** The lease of one attempt whose deadline is `attemptTimeoutMs`: the attempt, the hold of an unanswered one, a margin. */
export function leaseMsFor(attemptTimeoutMs: number): number {
  return attemptTimeoutMs + UNANSWERED_HOLD_MS + LEASE_MARGIN_MS;
}

/** KEYS: leases in flight, finished requests, bucket levels. ARGV: see the header. */
const PACE = new LuaScript(`
-- ARGV: op ('acquire' | 'release' | 'cancel'), now (ms; '' = Redis TIME), lease id, lease ms, key ttl ms,
-- the number of windows then each one's count and window ms, the number of buckets then each one's
-- per-second rate and burst.
local flight, done, levels = KEYS[1], KEYS[2], KEYS[3]
local op, lease = ARGV[1], ARGV[3]
local function finite(x, default)
  if x == nil or x ~= x or x == math.huge or x == -math.huge then return default end
  return x
end
local function num(x) return string.format('%.17g', x) end
local now = tonumber(ARGV[2])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local leaseMs, keyTtl = tonumber(ARGV[4]), tonumber(ARGV[5])
local windows, buckets, longest = {}, {}, 0
local i = 7
for _ = 1, tonumber(ARGV[6]) do
  local w = { count = tonumber(ARGV[i]), ms = tonumber(ARGV[i + 1]) }
  windows[#windows + 1] = w
  if w.ms > longest then longest = w.ms end
  i = i + 2
end
local bucketCount = tonumber(ARGV[i])
i = i + 1
for _ = 1, bucketCount do
  buckets[#buckets + 1] = { field = ARGV[i], rate = tonumber(ARGV[i]), burst = tonumber(ARGV[i + 1]) }
  i = i + 2
end

-- A bucket's level at time t (drained since it was set), and the time it is then set at. A level is
-- kept per drain rate: how a level evolves depends on the rate alone, the burst is only a threshold.
local function level(b, t)
  local l = math.max(0, finite(tonumber(redis.call('HGET', levels, 'level:' .. b.field)), 0))
  local at = math.min(now, finite(tonumber(redis.call('HGET', levels, 'at:' .. b.field)), t))
  if t <= at then return l, at end
  return math.max(0, l - (t - at) / 1000 * b.rate), t
end

-- A request answered at t (or whose lease expired at t).
local function finish(t, id)
  if #windows > 0 then redis.call('ZADD', done, t, num(t) .. ':' .. id) end
  for _, b in ipairs(buckets) do
    local l, at = level(b, t)
    redis.call('HSET', levels, 'level:' .. b.field, num(l + 1), 'at:' .. b.field, num(at))
  end
end

local function keep()
  for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, keyTtl) end
end

if op == 'release' or op == 'cancel' then
  if redis.call('ZREM', flight, lease) == 1 and op == 'release' then finish(now, lease) end
  keep()
  return { 'released' }
end

-- What no replica can have written: a lease longer than one lease from now, an answer after now.
local horizon = now + leaseMs
for _, id in ipairs(redis.call('ZRANGEBYSCORE', flight, '(' .. num(horizon), '+inf')) do
  redis.call('ZADD', flight, horizon, id)
end
for _, member in ipairs(redis.call('ZRANGEBYSCORE', done, '(' .. num(now), '+inf')) do
  redis.call('ZADD', done, now, member)
end
-- Leases of replicas that never said their request finished: answered at their expiry, at the latest.
local expired = redis.call('ZRANGEBYSCORE', flight, '-inf', num(now), 'WITHSCORES')
for j = 1, #expired, 2 do finish(finite(tonumber(expired[j + 1]), now), expired[j]) end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', flight, '-inf', num(now)) end
redis.call('ZREMRANGEBYSCORE', done, '-inf', num(now - longest))

local inFlight = redis.call('ZCARD', flight)
local function blocked()
  local first = redis.call('ZRANGE', flight, 0, 0, 'WITHSCORES')
  return { 'blocked', num(math.max(0, finite(tonumber(first[2]), now) - now)) }
end
local wait = 0
for _, w in ipairs(windows) do
  if inFlight >= w.count then return blocked() end
  local from = '(' .. num(now - w.ms)
  local counted = inFlight + redis.call('ZCOUNT', done, from, '+inf')
  if counted >= w.count then
    -- Wait until enough of the answers in the window have left it.
    local t = redis.call('ZRANGEBYSCORE', done, from, '+inf', 'WITHSCORES', 'LIMIT', counted - w.count, 1)
    wait = math.max(wait, tonumber(t[2]) + w.ms - now)
  end
end
for _, b in ipairs(buckets) do
  if inFlight + 1 > b.burst then return blocked() end
  local excess = math.min(level(b, now), b.burst) + inFlight + 1 - b.burst
  if excess > 0 then wait = math.max(wait, excess / b.rate * 1000) end
end
if wait > 0 then return { 'wait', num(wait) } end
redis.call('ZADD', flight, now + leaseMs, lease)
keep()
return { 'granted', num(now) }
`);

const millis = z.string().transform(Number).pipe(z.number().min(0).max(Number.MAX_SAFE_INTEGER));
/** What the script answers; anything else is a failed call. */
const Answer = z.union([
  z.tuple([z.literal('granted'), millis]),
  z.tuple([z.literal('wait'), millis]),
  z.tuple([z.literal('blocked'), millis]),
  z.tuple([z.literal('released')]),
]);

interface Waiter {
  resolve(permit: Permit): void;
  reject(reason: unknown): void;
  signal: AbortSignal | undefined;
  onAbort(): void;
}

export class SharedPacer implements Pacer {
  private readonly link: RedisLink;
  private readonly clock: Clock;
  private readonly local: RulePacer;
  private readonly keys: readonly [string, string, string];
  /** The script's arguments after op, now and lease id. */
  private readonly args: readonly string[];
  private readonly pollMs: number;
  /** The longest any answer can make a waiter sleep before it asks again. */
  private readonly maxWaitMs: number;
  private readonly queue: Waiter[] = [];
  private pumping = false;
  /** Ends the pump's current sleep early (a permit was released here, or no one waits any more). */
  private wake: (() => void) | undefined;
  private calls = 0;

  constructor(private readonly options: SharedPacerOptions) {
    const { link, account, rules, leaseMs } = options;
    if (!/^[^\s{}]{1,200}$/.test(account)) throw new Error('SharedPacer: an account is 1-200 characters without spaces or braces');
    for (const rule of rules) {
      const valid =
        rule.kind === 'window'
          ? Number.isInteger(rule.count) && rule.count >= 1 && Number.isFinite(rule.windowMs) && rule.windowMs > 0
          : Number.isFinite(rule.perSecond) && rule.perSecond > 0 && Number.isInteger(rule.burst) && rule.burst >= 1;
      if (!valid) throw new Error('SharedPacer: a rule needs positive, finite numbers');
    }
    this.link = link;
    this.clock = options.clock ?? systemClock;
    this.local = new RulePacer(rules, this.clock);
    this.pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    // One hash tag: the three keys of an account live on one node of a Redis Cluster.
    const base = link.key('pace', `{${account}}`);
    this.keys = [`${base}:flight`, `${base}:done`, `${base}:levels`];
    const windows = rules.filter((r) => r.kind === 'window');
    const buckets = rules.filter((r) => r.kind === 'bucket');
    const longestWindowMs = Math.max(0, ...windows.map((w) => w.windowMs));
    const longestDrainMs = Math.max(0, ...buckets.map((b) => (b.burst / b.perSecond) * 1000));
    this.maxWaitMs = Math.max(longestWindowMs, longestDrainMs, leaseMs);
    // Keys outlive what they can still say (an answer leaves the longest window, a level drains) and then go.
    const keyTtlMs = Math.ceil(longestWindowMs + longestDrainMs + leaseMs + 60_000);
    this.args = [
      String(leaseMs),
      String(keyTtlMs),
      String(windows.length),
      ...windows.flatMap((w) => [String(w.count), String(w.windowMs)]),
      String(buckets.length),
      ...buckets.flatMap((b) => [String(b.perSecond), String(b.burst)]),
    ];
  }

  acquire(signal?: AbortSignal): Promise<Permit> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Permit>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.queue.indexOf(waiter);
          if (index < 0) return;
          this.queue.splice(index, 1);
          reject(signal?.reason);
          if (this.queue.length === 0) this.wake?.(); // nothing left to wait for: the pump stops, its timer with it
        },
      };
      this.queue.push(waiter);
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      void this.pump();
    });
  }

  /** Whether a call to Redis is under way (tests wait for it before they move their clock). */
  /** What this replica knows without asking Redis: busy while its own requests wait for the shared pacer. */
  readyInMs(): number {
    if (this.queue.length > 0) return this.pollMs;
    return this.local.waitMs();
  }

  get busy(): boolean {
    return this.calls > 0;
  }

  /** Serves the queue in order, one script call at a time; hands it to the local pacer when Redis is not there. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0) {
        if (!this.link.usable('pacing')) {
          this.handOver();
          return;
        }
        const lease = randomBytes(12).toString('base64url');
        const answer = await this.call('acquire', lease);
        if (answer === undefined) {
          this.handOver();
          return;
        }
        if (answer[0] === 'released') continue; // not an answer to 'acquire'; cannot happen
        if (answer[0] === 'granted') {
          const waiter = this.queue.shift();
          if (waiter === undefined) {
            void this.call('cancel', lease); // its caller gave up meanwhile
            return;
          }
          waiter.signal?.removeEventListener('abort', waiter.onAbort);
          waiter.resolve(this.permit(lease));
          continue;
        }
        const ms = answer[0] === 'wait' ? Math.min(answer[1], this.maxWaitMs) : Math.min(answer[1], this.pollMs);
        await this.sleep(Math.max(1, Math.ceil(ms)));
      }
    } finally {
      this.pumping = false;
    }
  }

  private permit(lease: string): Permit {
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        // A release Redis could not take: the lease expires by itself.
        void this.call('release', lease).finally(() => this.wake?.());
      },
    };
  }

  /** Every waiter to the local pacer, in order, each with its own signal: its permit is the local pacer's. */
  private handOver(): void {
    for (const waiter of this.queue.splice(0)) {
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      this.local.acquire(waiter.signal).then(waiter.resolve, waiter.reject);
    }
  }

  /** The script's answer; undefined when Redis cannot take the call (`RedisLink.orLocal`): the local pacer takes over. */
  private async call(op: 'acquire' | 'release' | 'cancel', lease: string): Promise<z.output<typeof Answer> | undefined> {
    this.calls++;
    try {
      const now = this.options.now === undefined ? '' : String(this.options.now());
      return await this.link.orLocal(
        'pacing',
        async (client) => Answer.parse(await PACE.run(client, this.keys, [op, now, lease, ...this.args])),
        () => undefined,
      );
    } finally {
      this.calls--;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        cancel();
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const cancel = this.clock.setTimer(done, ms);
      this.wake = done;
    });
  }
}
