import { randomUUID } from 'node:crypto';
import { type CallBudget, NOTHING_TO_SEND, type Permit, type SharedQueue, type SharedTake } from '../core/lookup.js';
import type { FieldSet } from '../core/types.js';
import type { RedisLink } from '../redis/link.js';
import { LuaScript } from '../redis/lua-script.js';
import { TAKE_PERMIT, TOKEN_HORIZON_MS, type WindowAssumption } from './window-ledger.js';

/**
 * The queue of misses every replica shares (docs/upstream-budget.md, "Across replicas"), beside the
 * window's ledger: a replica that holds a partial call parks its keys here; the next replica to take a
 * permit takes, in the same script, the oldest keys the others parked, so that one call carries what
 * several replicas wait for. Three keys per queue, all with the ledger's hash tag (`{provider:scope}`),
 * so every script runs unchanged on Redis Cluster:
 *
 * - `queue`: a sorted set of parked keys (`<replica>\n<key>`), scored by when they were parked;
 * - `fields`: per parked key, the fields its requests need (the taker asks for them all);
 * - `taken`: per key taken from its owner, who took it, until the owner has heard (`taken`, `take`).
 *
 * What a replica took is its to fetch; the owner's requests wait for the answer in the shared cache, as
 * for a key another replica claimed (`src/batching/replica-claims.ts`). Any Redis failure answers as this
 * replica alone: nothing parked, nothing taken, the permit from its own ledger (`RedisLink.orLocal`).
 */
export class RedisSharedQueue implements SharedQueue {
  private readonly keys: string[];

  constructor(
    private readonly link: RedisLink,
    /** The window's ledger, whose permits this queue's calls take. */
    ledgerKey: string,
    /** The queue's own keys' stem: the ledger's hash tag, then the queue's name. */
    queueKey: string,
    private readonly assumed: WindowAssumption,
    /** What answers when Redis cannot: this process's own ledger. */
    private readonly local: CallBudget,
    /** Epoch ms for the scripts (tests); Redis `TIME` when absent. */
    private readonly now?: () => number,
    /** This process among the replicas. */
    private readonly me: string = REPLICA,
  ) {
    this.keys = [ledgerKey, `${queueKey}:queue`, `${queueKey}:fields`, `${queueKey}:taken`];
  }

  async park(entries: ReadonlyArray<{ key: string; fields: FieldSet }>): Promise<void> {
    if (entries.length === 0) return;
    await this.link.orLocal(
      'rate-budget',
      async (client) => {
        await PARK.run(client, this.keys, [this.now?.() ?? '', this.me, ...entries.flatMap(({ key, fields }) => [key, fields.join(',')])]);
      },
      () => undefined,
    );
  }

  async unpark(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.link.orLocal(
      'rate-budget',
      async (client) => {
        await UNPARK.run(client, this.keys, [this.me, ...keys]);
      },
      () => undefined,
    );
  }

  /**
   * When another replica took every key of `mine`, no permit is taken: the permit is `NOTHING_TO_SEND`, with
   * all of `mine` in `takenFromMe`, and the planner decides afresh.
   */
  async take(kind: 'window' | 'paced', mine: readonly string[], room: number): Promise<SharedTake> {
    return this.link.orLocal<SharedTake>(
      'rate-budget',
      async (client) => {
        const answer = (await TAKE_SHARED.run(
          client,
          this.keys,
          [this.now?.() ?? '', kind, this.assumed.limit, this.assumed.windowMs, TOKEN_HORIZON_MS, this.me, room, ...mine],
          this.link.replicaAckMs,
        )) as [number, number, number, string[], string[]];
        const [granted, retryInMs, exhausted, takenFromMe, theirs] = answer;
        if (!Array.isArray(takenFromMe) || !Array.isArray(theirs) || theirs.length % 2 !== 0) {
          throw new TypeError('shared queue: an answer of the wrong shape');
        }
        const carried: Array<{ key: string; fields: FieldSet }> = [];
        for (let i = 0; i < theirs.length; i += 2) {
          const fields = String(theirs[i + 1]);
          carried.push({ key: String(theirs[i]), fields: fields === '' ? [] : fields.split(',') });
        }
        const permit: Permit =
          Number(granted) === 1
            ? { granted: true }
            : Number(granted) === 2
              ? NOTHING_TO_SEND
              : { granted: false, retryInMs: Math.max(0, Number(retryInMs)), exhausted: Number(exhausted) === 1 };
        return {
          permit,
          takenFromMe: takenFromMe.map(String),
          theirs: carried,
        };
      },
      async () => ({ permit: await this.local.take(kind), takenFromMe: [], theirs: [] }),
    );
  }

  async taken(parked: readonly string[]): Promise<string[]> {
    if (parked.length === 0) return [];
    return this.link.orLocal(
      'rate-budget',
      async (client) => {
        const answer = await TAKEN.run(client, this.keys, [this.me, ...parked]);
        if (!Array.isArray(answer)) throw new TypeError('shared queue: an answer of the wrong shape');
        return answer.map(String);
      },
      () => [],
    );
  }
}

/** This process among the replicas: the keys it parks are its own. */
const REPLICA = randomUUID();

/** A parked key lives at most this long without its owner sending or unparking it (a replica that died). */
const PARKED_TTL_MS = 120_000;

/** KEYS: ledger, queue, fields, taken. */
const QUEUE_KEYS = `
local queue, fields, taken = KEYS[2], KEYS[3], KEYS[4]
local function member(owner, key) return owner .. '\\n' .. key end
local function keep()
  for _, k in ipairs({ queue, fields, taken }) do redis.call('PEXPIRE', k, ${PARKED_TTL_MS}) end
end
local function clock()
  local given = tonumber(ARGV[1])
  if given ~= nil then return given end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/** ARGV: now, me, then key and fields (comma-separated) pairs. Parks each key not parked already. */
const PARK = new LuaScript(`${QUEUE_KEYS}
local at, me = clock(), ARGV[2]
for i = 3, #ARGV, 2 do
  local m = member(me, ARGV[i])
  -- Within one park, in the order given (a microsecond apart): the oldest are taken first.
  if redis.call('ZADD', queue, 'NX', at + (i - 3) / 2000, m) == 1 then redis.call('HSET', fields, m, ARGV[i + 1]) end
end
keep()
return 1`);

/** ARGV: me, then keys. */
const UNPARK = new LuaScript(`${QUEUE_KEYS}
local me = ARGV[1]
for i = 2, #ARGV do
  local m = member(me, ARGV[i])
  redis.call('ZREM', queue, m)
  redis.call('HDEL', fields, m)
end
return 1`);

/** ARGV: me, then keys parked. Answers those another replica took (and forgets that it did). */
const TAKEN = new LuaScript(`${QUEUE_KEYS}
local me, out = ARGV[1], {}
for i = 2, #ARGV do
  local m = member(me, ARGV[i])
  local who = redis.call('HGET', taken, m)
  if who then
    redis.call('HDEL', taken, m)
    if who ~= me then out[#out + 1] = ARGV[i] end
  end
end
return out`);

/**
 * ARGV: now, kind, assumed limit, window ms, token horizon ms, me, room, then the keys of this replica's
 * next call. Answers granted (1, 0, or 2: every key of the call was taken, no permit asked), retry in ms,
 * exhausted, the keys another replica took from this one, and (with a permit) the other replicas' keys
 * this call carries, as key and fields pairs.
 */
const TAKE_SHARED = new LuaScript(`${TAKE_PERMIT}
${QUEUE_KEYS}
local kind, me, room = ARGV[2], ARGV[6], tonumber(ARGV[7])
local takenFromMe, mine = {}, {}
for i = 8, #ARGV do
  local m = member(me, ARGV[i])
  local who = redis.call('HGET', taken, m)
  if who and who ~= me then
    redis.call('HDEL', taken, m)
    takenFromMe[#takenFromMe + 1] = ARGV[i]
  else
    mine[#mine + 1] = m
  end
end
-- Every key of this call another replica took: it sends them, so this one has no call to make and takes no
-- permit. Not even to carry others' parked keys: each owner sends its own when its planner says, and a call
-- made only for them would spend the window the planner is holding those keys to save.
if #mine == 0 then return { 2, 0, 0, takenFromMe, {} } end
local permit = takePermit(kind, tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
if permit[1] ~= 1 then return { permit[1], permit[2], permit[3], takenFromMe, {} } end
for _, m in ipairs(mine) do
  redis.call('ZREM', queue, m)
  redis.call('HDEL', fields, m)
end
local theirs, left = {}, room - #mine
if left > 0 then
  local prefix = me .. '\\n'
  -- The oldest first, skipping this replica's own (parked for a later call of its own).
  for _, m in ipairs(redis.call('ZRANGE', queue, 0, left + 200)) do
    if left <= 0 then break end
    if string.sub(m, 1, #prefix) ~= prefix then
      local cut = string.find(m, '\\n', 1, true)
      theirs[#theirs + 1] = string.sub(m, cut + 1)
      theirs[#theirs + 1] = redis.call('HGET', fields, m) or ''
      redis.call('ZREM', queue, m)
      redis.call('HDEL', fields, m)
      redis.call('HSET', taken, m, me)
      left = left - 1
    end
  end
  keep()
end
return { 1, 0, 0, takenFromMe, theirs }`);
