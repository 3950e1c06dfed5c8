/**
 * A window's ledger as every replica's scripts keep it in Redis (`call-budget.ts` takes permits of it,
 * `shared-queue.ts` takes a permit and the ids for one call in one script): the Lua both share, and the
 * constants `WindowBudget` keeps the same ledger by in memory.
 */

/** What an upstream documents of its window, assumed until its first answer says. */
export interface WindowAssumption {
  /** Calls per window, as the upstream documents them. */
  limit: number;
  windowMs: number;
}

/** Answers of one window do not come back in order; a reset read later by less than this is the same window. */
export const SAME_WINDOW_MS = 1_000;
/** Tokens held at most: a second's worth of the sustainable pace (at least one call). */
export const TOKEN_HORIZON_MS = 1_000;

/** The calls kept back from paced sends for full and due ones: 5% of the window, at least one. */
export function reserveOf(limit: number): number {
  return Math.max(1, Math.ceil(limit * 0.05));
}

/** The ledger as the scripts keep it (every script's first argument is the time, '' for Redis's own): a hash of limit, remaining, reset (epoch ms), tokens and when they were counted. */
const LEDGER = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function reserveOf(limit) return math.max(1, math.ceil(limit * 0.05)) end
local function load(assumedLimit, windowMs)
  local v = redis.call('HMGET', key, 'limit', 'remaining', 'resetAt', 'tokens', 'at', 'windowMs', 'confirmed')
  local l = { limit = tonumber(v[1]) or assumedLimit, remaining = tonumber(v[2]), resetAt = tonumber(v[3]),
              tokens = tonumber(v[4]), at = tonumber(v[5]) or now, windowMs = tonumber(v[6]) or windowMs,
              confirmed = tonumber(v[7]) or 0 }
  if l.remaining == nil or l.resetAt == nil then
    l.remaining = l.limit
    l.resetAt = now + l.windowMs
    l.tokens = nil
  end
  return l
end
local function rate(l) return math.max(0, l.remaining - reserveOf(l.limit)) / math.max(1, l.resetAt - now) end
local function capacity(l, horizon) return math.max(1, rate(l) * horizon) end
local function refill(l, horizon)
  if now >= l.resetAt then
    l.remaining = l.limit
    l.resetAt = l.resetAt + (math.floor((now - l.resetAt) / l.windowMs) + 1) * l.windowMs
    l.at = now
    l.tokens = math.max(l.tokens or 0, 0)
  end
  if l.tokens == nil then l.tokens = capacity(l, horizon) end
  l.tokens = math.min(capacity(l, horizon), l.tokens + rate(l) * math.max(0, now - l.at))
  l.at = now
end
local function save(l)
  redis.call('HSET', key, 'limit', l.limit, 'remaining', l.remaining, 'resetAt', l.resetAt,
    'tokens', string.format('%.17g', l.tokens), 'at', l.at, 'windowMs', l.windowMs, 'confirmed', l.confirmed)
  -- Kept a window past its reset: a budget nobody uses any more goes by itself.
  redis.call('PEXPIRE', key, math.max(1000, l.resetAt - now + l.windowMs))
end
`;

/** Takes one permit of `kind` from the ledger: granted (1/0), retry in ms, exhausted (1/0). */
export const TAKE_PERMIT = `${LEDGER}
local function takePermit(kind, assumedLimit, windowMs, horizon)
  local l = load(assumedLimit, windowMs)
  refill(l, horizon)
  local resetIn = math.ceil(math.max(0, l.resetAt - now))
  if l.remaining < 1 then save(l) return { 0, resetIn, 1 } end
  if kind == 'paced' then
    if l.remaining - reserveOf(l.limit) < 1 then save(l) return { 0, resetIn, 0 } end
    if l.tokens < 1 then
      save(l)
      return { 0, math.min(resetIn, math.ceil((1 - l.tokens) / rate(l))), 0 }
    end
  end
  l.remaining = l.remaining - 1
  l.tokens = math.max(-l.limit, l.tokens - 1)
  save(l)
  return { 1, 0, 0 }
end
`;
