import { randomUUID } from 'node:crypto';
import { type Clock, systemClock } from '../core/clock.js';
import type { RedisLink } from '../redis/link.js';
import { LuaScript } from '../redis/lua-script.js';
import { ClaimWatch } from './claim-watch.js';

/**
 * Which replica is fetching which record right now, so that two replicas missing the same key at the
 * same moment make one upstream call, not two (docs/sharing.md, "Sharing upstream calls"). Within a process the
 * coalescer already does this; across processes a replica *claims* the keys it is about to fetch, and
 * a replica that finds a key claimed by another waits for that replica's answer to reach the shared
 * cache instead of asking the upstream itself.
 *
 * A claim is a Redis key beside the cache entry's, holding the claiming replica's id and expiring after
 * `leaseMs`, so a replica that dies mid-fetch holds no key for longer than that. The claimer gives it
 * back once the answer is stored; an answer that is not cached (a rate limit, an outage) gives it back
 * all the same, and the waiters then ask for themselves.
 *
 * The invariant: an id one replica fetched is not fetched again by another while the first one's answer
 * is being stored. It takes two orders, each "happened before" as Redis sees it:
 * 1. the claimer's cache write before its release, so that a claim seen gone means the entry is there;
 * 2. a waiter's read after its claim, so that the read sees what the claim saw (a release, so the entry).
 * On one node (or a Sentinel's master) both hold by themselves: a replica's commands go down one connection,
 * which Redis runs in the order sent, so the write, sent when the answer came (`CacheTriage.store`), runs
 * before the release sent after it, and a read sent behind a claim runs after it: no round trip is added.
 * On a Cluster the entry and its claim are in different slots (records are spread; claims share a hash
 * tag per call), mostly on different masters, over different connections: nothing orders commands to two
 * masters but the replica waiting for one's answer before sending the other. So there the release waits
 * for the write's acknowledgement (`RecordWrites`), and the read for the claim's answer.
 *
 * Every method degrades to "nobody else is fetching": Redis down or failing costs repeat calls between
 * replicas, never a request.
 */
export interface FetchClaims {
  /**
   * Claims `keys` for this replica; resolves, per key, who held it already, and what `read` (the cache
   * entries) resolved, read after the claim was made: a key claimed from nobody after its holder gave it
   * back must find the holder's answer (order 2 above).
   */
  claim<T>(keys: readonly string[], read: () => Promise<T>): Promise<[Holder[], T]>;
  /**
   * Gives back this replica's claims on `keys` (those another holds are left alone), once this process's
   * writes of their entries sent so far are in Redis (order 1 above).
   */
  release(keys: readonly string[]): void;
  /**
   * The cache writes a release must wait for, where the write and the release may reach Redis in either
   * order (a Cluster); undefined where they cannot (one connection). The shared layer tells it of each
   * write it sends (`CacheTriage.store`).
   */
  readonly writes?: RecordWrites | undefined;
  /**
   * Resolves once the claim on one of `keys` may have been given back, or after `ms` (the waiter then
   * claims again to find out); rejects with the signal's reason when it is aborted. Every waiter of this
   * replica shares one watch per key (`ClaimWatch`).
   */
  whenReleased(keys: readonly string[], ms: number, signal: AbortSignal): Promise<void>;
  /** Resolves once one of `keys` (cache keys another replica's call took) is in the cache, or after `ms`; as `whenReleased`. */
  whenStored(keys: readonly string[], ms: number, signal: AbortSignal): Promise<void>;
  /** How long a waiter waits at most before it asks the upstream itself (ms). */
  readonly leaseMs: number;
}

/**
 * Who holds a key's claim: nobody (after `claim`: it is ours now, as no one had it), this replica (another
 * of its requests claimed it first), or another replica.
 */
export type Holder = 'nobody' | 'me' | 'other';

const HOLDERS: Record<number, Holder> = { 0: 'nobody', 1: 'other', 2: 'me' };

/** The first look of a watch after `pollMs`, then twice as long each time up to this (ms). */
const MAX_POLL_MS = 100;

/**
 * KEYS: claim keys. ARGV[1]: mode (claim | release), ARGV[2]: this replica's id, ARGV[3]: lease ms,
 * ARGV[4]: the channel a release announces the keys it gave back on (one per line).
 * Answers, per key, who held it: 0 nobody (claimed now), 1 another replica, 2 this one (claim); release answers nothing.
 */
const SCRIPT = new LuaScript(`
local mode, me, lease = ARGV[1], ARGV[2], ARGV[3]
local out = {}
local released = {}
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if mode == 'claim' then
    if holder == false then redis.call('SET', key, me, 'PX', lease); out[i] = 0
    elseif holder == me then out[i] = 2
    else out[i] = 1 end
  elseif holder == me then
    redis.call('DEL', key)
    released[#released + 1] = key
  end
end
if #released > 0 then redis.call('PUBLISH', ARGV[4], table.concat(released, '\\n')) end
return out
`);

/**
 * This process's cache writes not acknowledged yet, by cache key: what a claim's release waits for where
 * the write and the release may reach Redis in either order (a Cluster, see `FetchClaims`). The shared
 * layer tells it of each write it sends (`CacheTriage.store`: the answers of a call, before any request
 * hears of them); `RedisFetchClaims.release` asks it, later, for the keys it gives back.
 *
 * The claims own it (`RedisFetchClaims.writes`), on a Cluster only: on one node there is none, and nothing is
 * kept. A write it is told of never rejects (a failed write is the caller's to log): once it settled,
 * whatever it could store is stored, or never will be.
 */
export class RecordWrites {
  /** Cache key → the latest write of it: a later write down the same connection is acknowledged after an earlier one. */
  private readonly pending = new Map<string, Promise<void>>();

  /** `write` stores `entries` (cache key first). */
  track(entries: ReadonlyArray<readonly [key: string, unknown]>, write: Promise<void>): void {
    if (entries.length === 0) return;
    for (const [key] of entries) this.pending.set(key, write);
    void write.then(() => {
      for (const [key] of entries) if (this.pending.get(key) === write) this.pending.delete(key);
    });
  }

  /** Resolves once the writes of `keys` sent so far are acknowledged (or failed); undefined when none is pending. */
  settled(keys: readonly string[]): Promise<void> | undefined {
    if (this.pending.size === 0) return undefined;
    const writes = new Set<Promise<void>>();
    for (const key of keys) {
      const write = this.pending.get(key);
      if (write !== undefined) writes.add(write);
    }
    return writes.size === 0 ? undefined : Promise.all(writes).then(() => {});
  }

  /** How many keys have a write pending (tests). */
  get size(): number {
    return this.pending.size;
  }
}

export class RedisFetchClaims implements FetchClaims {
  /** This process among the replicas: claims it made are its own to give back. */
  private readonly me = randomUUID();
  readonly writes: RecordWrites | undefined;

  /**
   * Whether the script is known to be in Redis's script cache. Until it is, `run` may take two round
   * trips (EVALSHA answered NOSCRIPT, then EVAL), so a read sent beside it could pass it: the read then
   * waits for the script's answer. Forgotten when the link comes back (a restarted Redis has no scripts).
   */
  private scriptCached = false;

  constructor(
    private readonly link: RedisLink,
    /** The cache's key prefix (`users-subgraph:cache:`), which every key given here starts with… */
    private readonly cacheNamespace: string,
    /** …and what replaces it in the claim's key (`users-subgraph:claim:`). */
    private readonly claimNamespace: string,
    readonly leaseMs: number,
    clock: Clock = systemClock,
    pollMs = 5,
    /** The writes of entries a release waits for on a Cluster (a test may give its own; ignored on one node). */
    writes: RecordWrites = new RecordWrites(),
  ) {
    this.writes = link.cluster ? writes : undefined;
    link.onChange(() => {
      this.scriptCached = false;
    });
    this.watch = new ClaimWatch(link, clock, `${claimNamespace}released`, pollMs, MAX_POLL_MS);
  }

  private readonly watch: ClaimWatch;

  whenReleased(keys: readonly string[], ms: number, signal: AbortSignal): Promise<void> {
    return this.watch.wait(
      keys.map((key) => this.claimKey(key)),
      ms,
      signal,
    );
  }

  whenStored(keys: readonly string[], ms: number, signal: AbortSignal): Promise<void> {
    return this.watch.wait(keys, ms, signal, 'stored');
  }

  /**
   * A cache key's claim: `<claim namespace>{<provider|lookup|scope|partition>}|<key>`. The hash tag is the
   * cache key without its id, so that the claims one call makes (one upstream, scope and partition) are in
   * one Cluster slot and one script takes them together, while other upstreams and scopes spread.
   */
  private claimKey(key: string): string {
    const suffix = key.startsWith(this.cacheNamespace) ? key.slice(this.cacheNamespace.length) : key;
    const cut = suffix.lastIndexOf('|');
    if (cut < 0) return this.claimNamespace + suffix;
    // Braces in a configured name (a Bitrix24 portal's) must not end the tag early.
    const tag = suffix.slice(0, cut).replace(/[{}]/g, (brace) => (brace === '{' ? '%7B' : '%7D'));
    return `${this.claimNamespace}{${tag}}${suffix.slice(cut)}`;
  }

  claim<T>(keys: readonly string[], read: () => Promise<T>): Promise<[Holder[], T]> {
    return this.thenRead(this.run('claim', keys), read);
  }

  /**
   * Sends `read` after the script, so that it sees what the script saw (order 2). One node: down the same
   * connection, behind it at once when the script is cached (else after its answer: EVALSHA answered NOSCRIPT
   * and EVAL make two round trips, which a read sent beside them could pass). A Cluster: the entries are on
   * other masters than the claims, where a read sent beside the script may run first, before the write that
   * a release the script then sees had waited for; so the read waits for the script's answer (one round trip).
   */
  private async thenRead<T>(holders: Promise<Holder[]>, read: () => Promise<T>): Promise<[Holder[], T]> {
    if (this.scriptCached && !this.link.cluster) return Promise.all([holders, read()]);
    const known = await holders;
    return [known, await read()];
  }

  release(keys: readonly string[]): void {
    if (keys.length === 0) return;
    // One node: the entries' write went down this connection before (it is sent when the answer comes, the
    // release after the request had it), so Redis runs it first: nothing to wait for (order 1). A Cluster: the
    // write went to another master, and a release sent now could run before it, so it waits for the write's
    // acknowledgement. A write that fails is waited for until it fails: the claim is given back all the same.
    const written = this.writes?.settled(keys);
    if (written === undefined) this.giveBack(keys);
    else void written.then(() => this.giveBack(keys));
  }

  private giveBack(keys: readonly string[]): void {
    // Expiry gives back what a failed release could not. This process's waiters wake once the release
    // has been sent, after the entries' writes: the read of their next claim follows it (`thenRead`).
    void this.run('release', keys);
    this.watch.released(keys.map((key) => this.claimKey(key)));
  }

  /** The script on Redis; "nobody holds them" when the link cannot run it (`RedisLink.orLocal`). */
  private run(mode: 'claim' | 'release', keys: readonly string[]): Promise<Holder[]> {
    const nobody = () => keys.map((): Holder => 'nobody');
    if (keys.length === 0) return Promise.resolve([]);
    return this.link.orLocal(
      'fetch-claims',
      async (client) => {
        const claimKeys = keys.map((key) => this.claimKey(key));
        // One script per hash slot (one on a single node; one per upstream, scope and partition on a Cluster),
        // each answer put back at the position of its key.
        const groups = this.link.slotGroups(claimKeys);
        const answers = await Promise.all(
          groups.map((group) =>
            SCRIPT.run(
              client,
              group.map((i) => claimKeys[i]!),
              [mode, this.me, this.leaseMs, this.watch.channel],
            ),
          ),
        );
        this.scriptCached = true;
        if (mode === 'release') return nobody();
        const holders = new Array<Holder>(keys.length).fill('nobody');
        for (const [g, group] of groups.entries()) {
          const answer = answers[g];
          if (!Array.isArray(answer) || answer.length !== group.length) throw new TypeError('claims: an answer of the wrong shape');
          for (const [j, i] of group.entries()) holders[i] = HOLDERS[answer[j] as number] ?? 'nobody';
        }
        return holders;
      },
      nobody,
    );
  }
}
