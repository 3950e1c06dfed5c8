import type { Logger } from 'pino';
import { type CacheEntry, covers, union } from '../cache/entry.js';
import type { FetchClaims, Holder } from '../cache/fetch-claims.js';
import type { RecordCache } from '../cache/record-cache.js';
import type { FieldSet, Lookup, ProviderId } from '../providers/provider.js';
import { watchUpstream } from '../telemetry/operation.js';
import { type Clock, sleep } from '../upstream/clock.js';
import { abandoned, batchFailure, ProviderError, WorkAbandoned } from '../upstream/errors.js';
import { cacheRequests, coalescedIds, resolutions, upstreamBatchSize } from '../upstream/metrics.js';

/**
 * The layer under every request's loaders, shared by all requests of the process (and, through the
 * cache, by every replica): a request's batch of keys for one lookup is answered from the record cache
 * where it can be, and what is left joins an upstream call shared with every other request that asks
 * the same lookup, in the same credential scope and partition, at about the same moment.
 *
 * - **Cache.** A cached record answers when the fields it was fetched with cover what the operation
 *   needs; otherwise it is fetched again with the union, so the entry grows instead of being refetched
 *   field by field. A negative answer (NOT_FOUND, SUSPENDED) is cached for a shorter time. When the
 *   upstream cannot answer (RATE_LIMITED, UPSTREAM_UNAVAILABLE), an expired entry still inside its
 *   stale window is served, and the request notes it.
 * - **Coalescing.** Keys wait up to `windowMs` for others to join them, and go at once when a chunk of
 *   the lookup's `maxBatchSize` is full. A key already on its way upstream is awaited, not asked again,
 *   when that call asks for every field this request needs.
 * - **Exactness.** Every request gets exactly the answers for its own keys: records, and errors about
 *   its own ids. A shared call is dropped only when every request waiting for it has gone; one that
 *   leaves stops waiting alone.
 */

/** The caller's own credential for a provider, when it sent one: its scope is a one-way hash of it. */
export interface CallerCredential {
  readonly token: string;
  /** A one-way hash of the token: partitions loaders, calls, cache entries and budgets by credential. */
  readonly scope: string;
}

/** What a request offers the shared layer: where records that came along go, and what it notes. */
export interface RequestSink {
  readonly signal: AbortSignal;
  prime<R>(lookup: Lookup<never, R>, key: string, value: R | ProviderError, partition: string): void;
  /** A stale entry was served for `key` (the upstream could not answer): said in the response. */
  noteStale(provider: ProviderId, key: string, ageSeconds: number): void;
  /** A request was sent upstream for a call this request waits on: for its log line (`src/telemetry/`). */
  noteUpstream?(provider: string): void;
  /** Which request this is, and its trace: named in the log lines of the upstream calls it waits on. */
  readonly requestId?: string | undefined;
  readonly traceId?: string | undefined;
}

/** One request's batch for one lookup. */
export interface LookupCall<R> {
  lookup: Lookup<never, R>;
  client: unknown;
  partition: string;
  credential: CallerCredential | undefined;
  /** The fields this request's operation needs of the lookup. */
  fields: FieldSet;
  request: RequestSink;
}

/** How long a provider's answers are kept, and whether they are at all. */
export interface CachePolicy {
  enabled: boolean;
  /** A record is fresh this long. */
  ttlMs: number;
  /** A negative answer (NOT_FOUND, SUSPENDED) is fresh this long. */
  missingTtlMs: number;
  /** After it stops being fresh, an entry may still be served this long when the upstream cannot answer. */
  staleMs: number;
}

export interface SharedLookupsOptions {
  cache: RecordCache;
  policy(provider: ProviderId): CachePolicy;
  /** How long keys wait for others before their call goes (ms); 0: only those asked in the same turn. */
  windowMs: number;
  clock: Clock;
  logger: Logger;
  /** Prefixes every cache key (several deployments may share one Redis). */
  keyPrefix?: string;
  /** Who fetches what among the replicas (Redis): so that two replicas' misses of one key make one call. */
  claims?: FetchClaims;
}

export class SharedLookups {
  private readonly groups = new Map<string, Group>();

  constructor(private readonly options: SharedLookupsOptions) {}

  /** The answers for `keys` (distinct, valid, normalized), keyed as given; a key absent from the map was not found. */
  async load<R>(call: LookupCall<R>, asked: readonly string[]): Promise<Map<string, R | ProviderError>> {
    const { lookup } = call;
    // Keys that name the same record (usernames in another case) are one key here, across requests.
    const normalize = lookup.key.normalize;
    const keys = normalize === undefined ? asked : [...new Set(asked.map(normalize))];
    const provider = lookup.provider;
    resolutions.inc({ provider: provider.name }, keys.length);
    const policy = this.options.policy(provider);
    const results = new Map<string, R | ProviderError>();
    if (!policy.enabled) {
      for (const [key, value] of await this.fetch(call, keys, new Map())) results.set(key, value);
      return results;
    }

    // What the cached record itself must have been fetched with; expansions are looked up on their own.
    const visit: CacheVisit<R> = {
      call,
      need: lookup.recordFields?.(call.fields) ?? call.fields,
      places: new Map(keys.map((key) => [key, this.cacheKey(call, key)])),
      results,
      grow: new Map(),
      stale: new Map(),
      claimed: [],
    };
    const now = this.options.clock.wallNow();
    const { fetch: missing } = this.sort(visit, keys, await this.read([...visit.places.values()]));
    if (missing.length === 0) return results;

    // Keys another replica is fetching at this moment are awaited in the shared cache, not asked again;
    // the others go upstream as soon as that is known (a replica holding claims waits for no one).
    const claims = this.options.claims;
    const sent: string[] = [];
    const parts: Array<Promise<Map<string, R | ProviderError>>> = [];
    const go = (some: readonly string[]) => {
      if (some.length === 0) return;
      sent.push(...some);
      const part = this.fetch(call, some, visit.grow);
      part.catch(() => {}); // awaited below; a wait that fails first must not leave it unhandled
      parts.push(part);
    };
    const fetched = new Map<string, R | ProviderError>();
    try {
      if (claims === undefined) {
        go(missing);
      } else {
        const sorted = await this.claim(visit, claims, missing);
        go(sorted.fetch);
        if (sorted.waiting.length > 0) {
          coalescedIds.inc({ provider: provider.name }, sorted.waiting.length);
          await this.waitForOthers(visit, claims, sorted.waiting, go);
        }
      }
      for (const part of await Promise.all(parts)) for (const [key, value] of part) fetched.set(key, value);
    } finally {
      // After the answers were stored (the same connection, in order): waiters elsewhere find them.
      claims?.release(visit.claimed);
    }
    let staleServed = 0;
    for (const key of sent) {
      const value = fetched.get(key);
      const entry = visit.stale.get(key);
      const served = value instanceof ProviderError && unanswered(value) && entry !== undefined && entry.staleUntil > now;
      const staleValue = served ? this.decode(call, key, entry) : UNREADABLE;
      if (staleValue !== UNREADABLE) {
        results.set(key, staleValue);
        call.request.noteStale(provider, key, Math.max(0, Math.round((now - (entry!.freshUntil - policy.ttlMs)) / 1000)));
        staleServed++;
        continue;
      }
      if (value !== undefined) results.set(key, value);
    }
    // One count per batch and result, not one per key.
    if (staleServed > 0) cacheRequests.inc({ provider: provider.name, result: 'stale' }, staleServed);
    if (sent.length > staleServed) cacheRequests.inc({ provider: provider.name, result: 'miss' }, sent.length - staleServed);
    return results;
  }

  /**
   * Sorts keys by their cache entries (and, between replicas, by who holds their claims): answered, when
   * the entry is fresh and has every field needed (into `visit.results`); to wait for, when someone else
   * fetches them (another replica, or a request of this process not yet or no longer coalescing them);
   * else to fetch from here (joining this process's call for them, if there is one), the entry they met
   * noted so that it grows, or is served stale should the upstream not answer.
   */
  private sort<R>(
    visit: CacheVisit<R>,
    keys: readonly string[],
    entries: ReadonlyArray<CacheEntry | undefined>,
    holders?: readonly Holder[],
  ): { fetch: string[]; waiting: string[] } {
    const { call, need, results } = visit;
    const now = this.options.clock.wallNow();
    const fetch: string[] = [];
    const waiting: string[] = [];
    let hits = 0;
    keys.forEach((key, i) => {
      const entry = entries[i];
      if (entry !== undefined && entry.freshUntil > now && (entry.missing !== undefined || covers(entry.fields, need))) {
        const value = this.decode(call, key, entry);
        if (value !== UNREADABLE) {
          results.set(key, value);
          hits++;
          return;
        }
      }
      const holder = holders?.[i] ?? 'nobody';
      if (holder === 'other' || (holder === 'me' && !this.coalescing(call, key))) {
        waiting.push(key);
        return;
      }
      fetch.push(key);
      if (entry === undefined) return;
      if (entry.record !== undefined) visit.grow.set(key, entry.fields);
      visit.stale.set(key, entry);
    });
    if (hits > 0) cacheRequests.inc({ provider: call.lookup.provider.name, result: 'hit' }, hits);
    return { fetch, waiting };
  }

  /**
   * Claims `keys` for this replica (`FetchClaims`) and sorts them by their entries and claims. Keys
   * claimed now are this replica's to fetch, and to give back: at once where the cache answered after
   * all; after the call (`visit.claimed`), the rest.
   */
  private async claim<R>(
    visit: CacheVisit<R>,
    claims: FetchClaims,
    keys: readonly string[],
  ): Promise<{ fetch: string[]; waiting: string[] }> {
    // Claims first, entries second (`FetchClaims.claim`): a key whose claim we got after another replica
    // gave it back was answered meanwhile, and its entry is there now (it was written before the claim went).
    const places = keys.map((key) => visit.places.get(key)!);
    const [holders, entries] = await claims.claim(places, () => this.read(places));
    const sorted = this.sort(visit, keys, entries, holders);
    const fetching = new Set(sorted.fetch);
    const answered: string[] = [];
    keys.forEach((key, i) => {
      if (holders[i] === 'nobody') (fetching.has(key) ? visit.claimed : answered).push(places[i]!);
    });
    claims.release(answered);
    return sorted;
  }

  /**
   * Waits for keys someone else fetches: claims them again every `pollMs` until they answer in the
   * cache, or go upstream from here after all (`go`, at once): when their claim was given back without
   * a cacheable answer (then exactly one waiter, the one whose claim took, asks), or expired, or a
   * request of this process coalesces them.
   */
  private async waitForOthers<R>(
    visit: CacheVisit<R>,
    claims: FetchClaims,
    keys: readonly string[],
    go: (keys: readonly string[]) => void,
  ): Promise<void> {
    const { clock } = this.options;
    const { signal } = visit.call.request;
    const until = clock.now() + claims.leaseMs;
    let waiting = keys;
    while (waiting.length > 0) {
      try {
        await sleep(claims.pollMs, clock, signal);
      } catch {
        throw abandoned(visit.call.lookup.provider, signal);
      }
      const sorted = await this.claim(visit, claims, waiting);
      // Past the lease, whoever holds a claim is taken for gone: the rest is fetched from here.
      const giveUp = clock.now() >= until;
      go(giveUp ? [...sorted.fetch, ...sorted.waiting] : sorted.fetch);
      waiting = giveUp ? [] : sorted.waiting;
    }
  }

  /** Whether `key` is pending or in flight in this process's coalescer for `call`'s lookup, scope and partition. */
  private coalescing(call: LookupCall<unknown>, key: string): boolean {
    return this.groups.get(groupId(call))?.has(key) ?? false;
  }

  /**
   * Removes cached entries: every entry of `provider` (all of them without one), or only those of one
   * key (in every lookup, credential scope and partition of the provider). Resolves how many.
   */
  evict(provider?: string, key?: string): Promise<number> {
    const prefix = `${this.options.keyPrefix ?? ''}${provider === undefined ? '' : `${provider}${SEPARATOR}`}`;
    return this.options.cache.evict(prefix, key === undefined ? '' : `${SEPARATOR}${key}`);
  }

  /** provider, lookup, credential scope, partition, key: each entry's place, every part separated. */
  private cacheKey(call: CallTarget, key: string): string {
    const { lookup, credential, partition } = call;
    return `${this.options.keyPrefix ?? ''}${lookup.provider.name}${SEPARATOR}${lookup.name}${SEPARATOR}${credential?.scope ?? ''}${SEPARATOR}${partition}${SEPARATOR}${key}`;
  }

  /** Cached entries; a store that fails answers nothing (misses), never a failed request. */
  private async read(keys: readonly string[]): Promise<Array<CacheEntry | undefined>> {
    try {
      return await this.options.cache.get(keys);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'record cache unreadable: asking the upstream');
      return keys.map(() => undefined);
    }
  }

  /** An entry's answer; UNREADABLE when the lookup's codec cannot read it (written by another version): a miss. */
  private decode<R>(call: LookupCall<R>, key: string, entry: CacheEntry): R | ProviderError | typeof UNREADABLE {
    const { provider, codec } = call.lookup;
    if (entry.missing !== undefined) return new ProviderError({ code: entry.missing.code, provider, id: key }, entry.missing.message);
    if (codec === undefined) return entry.record as R;
    try {
      return codec.decode(entry.record, call.client as never) as R;
    } catch (error) {
      this.options.logger.warn({ provider: provider.name, lookup: call.lookup.name, err: error }, 'unreadable cache entry: fetched again');
      return UNREADABLE;
    }
  }

  /** Keys through the coalescer of their lookup, scope and partition. */
  private fetch<R>(
    call: LookupCall<R>,
    keys: readonly string[],
    grow: ReadonlyMap<string, FieldSet>,
  ): Promise<Map<string, R | ProviderError>> {
    // A request that went away asks for nothing, and must not leave a group behind it.
    const { signal } = call.request;
    if (signal.aborted) return Promise.reject(abandoned(call.lookup.provider, signal));
    const id = groupId(call);
    let group = this.groups.get(id);
    if (group === undefined) {
      // Dropped when idle: a group per credential scope must not outlive its last call.
      const { lookup, client, partition, credential } = call;
      const created = new Group({ lookup, client, partition, credential }, this, () => {
        if (this.groups.get(id) === created) this.groups.delete(id);
      });
      group = created;
      this.groups.set(id, group);
    }
    return group.request(call, keys, grow) as Promise<Map<string, R | ProviderError>>;
  }

  /** Stores what a call brought back: records with the fields they were fetched with, negative answers shorter. */
  store(call: CallTarget, fields: FieldSet, answers: ReadonlyMap<string, unknown>): void {
    const policy = this.options.policy(call.lookup.provider);
    if (!policy.enabled) return;
    const now = this.options.clock.wallNow();
    const entries: Array<[string, CacheEntry]> = [];
    const recordFields = call.lookup.recordFields?.(fields) ?? fields;
    for (const [key, value] of answers) {
      let entry: CacheEntry | undefined;
      try {
        entry = toEntry(call, value, recordFields, now, policy);
      } catch (error) {
        // A record the codec cannot write is answered all the same, only not kept.
        this.options.logger.warn({ provider: call.lookup.provider.name, err: error }, 'record not cacheable');
      }
      if (entry !== undefined) entries.push([this.cacheKey(call, key), entry]);
    }
    if (entries.length === 0) return;
    this.options.cache
      .set(entries)
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'record cache unwritable: answers not kept'));
  }

  /** Coalescing groups alive now (each has calls pending or in flight): what per-scope state costs. */
  get groupCount(): number {
    return this.groups.size;
  }

  get windowMs(): number {
    return this.options.windowMs;
  }

  get clock(): Clock {
    return this.options.clock;
  }

  get logger(): Logger {
    return this.options.logger;
  }
}

/** What a call is made with, and a cache entry is kept under: a lookup, in a credential scope and partition. */
type CallTarget = Pick<LookupCall<unknown>, 'lookup' | 'client' | 'partition' | 'credential'>;

/** One request's batch on its way through the cache. */
interface CacheVisit<R> {
  readonly call: LookupCall<R>;
  /** The fields the cached record must have been fetched with. */
  readonly need: FieldSet;
  /** Each key's cache key, built once. */
  readonly places: ReadonlyMap<string, string>;
  /** The answers so far. */
  readonly results: Map<string, R | ProviderError>;
  /** The fields an entry already has, which the new call asks for too: the entry grows. */
  readonly grow: Map<string, FieldSet>;
  /** Entries that did not answer: served stale should the upstream not answer. */
  readonly stale: Map<string, CacheEntry>;
  /** Claims this replica took for the batch's keys (`FetchClaims`), given back once their answers are stored. */
  readonly claimed: string[];
}

/** One coalescer per lookup, credential scope and partition. */
function groupId(call: CallTarget): string {
  return `${call.lookup.provider.name}\u0000${call.lookup.name}\u0000${call.credential?.scope ?? ''}\u0000${call.partition}`;
}

/** What `decode` answers for an entry the lookup's codec cannot read. */
const UNREADABLE: unique symbol = Symbol('unreadable');

/** Separates the parts of a cache key; no key, name or scope contains it. */
const SEPARATOR = '|';

/** An upstream's failure to answer, for which a stale entry is better than an error. */
function unanswered(error: ProviderError): boolean {
  return error.code === 'RATE_LIMITED' || error.code === 'UPSTREAM_UNAVAILABLE';
}

function toEntry(
  { lookup, client }: CallTarget,
  value: unknown,
  fields: FieldSet,
  now: number,
  policy: CachePolicy,
): CacheEntry | undefined {
  if (value instanceof ProviderError) {
    if (value.code !== 'NOT_FOUND' && value.code !== 'SUSPENDED') return undefined; // not an answer about the user
    const freshUntil = now + policy.missingTtlMs;
    return { missing: { code: value.code, message: value.message }, fields: [], freshUntil, staleUntil: freshUntil };
  }
  const freshUntil = now + policy.ttlMs;
  const record = lookup.codec === undefined ? value : lookup.codec.encode(value as never, client as never);
  return { record, fields, freshUntil, staleUntil: freshUntil + policy.staleMs };
}

// ---------------------------------------------------------------------------------------------
// Coalescing: one group per lookup, credential scope and partition.

/** One request's wait for some of its keys. */
interface Waiter {
  readonly signal: AbortSignal;
  readonly sink: RequestSink;
  readonly answers: Map<string, unknown>;
  outstanding: number;
  settled: boolean;
  resolve(answers: Map<string, unknown>): void;
  reject(error: unknown): void;
}

/** Keys waiting for their call to go: who waits for each, and the fields each needs. */
interface PendingKey {
  fields: Set<string>;
  waiters: Set<Waiter>;
}

/** A call on its way upstream, for some keys, with some fields. */
interface Flight {
  readonly fields: FieldSet;
  readonly waiters: Map<Waiter, string[]>;
  readonly controller: AbortController;
}

class Group {
  private readonly pending = new Map<string, PendingKey>();
  private readonly inFlight = new Map<string, Flight>();
  private cancelTimer: (() => void) | undefined;
  private readonly maxBatchSize: number;

  constructor(
    /** What every call of the group is made with: never a request's own context, which must not outlive it. */
    private readonly template: CallTarget,
    private readonly shared: SharedLookups,
    private readonly onIdle: () => void,
  ) {
    this.maxBatchSize = template.lookup.maxBatchSize(template.client as never);
  }

  request(call: LookupCall<unknown>, keys: readonly string[], grow: ReadonlyMap<string, FieldSet>): Promise<Map<string, unknown>> {
    const { signal } = call.request;
    return new Promise((resolve, reject) => {
      const onAbort = () => this.leave(waiter);
      const waiter: Waiter = {
        signal,
        sink: call.request,
        answers: new Map(),
        outstanding: keys.length,
        settled: false,
        resolve: (answers) => {
          signal.removeEventListener('abort', onAbort);
          resolve(answers);
        },
        reject,
      };
      const provider = call.lookup.provider;
      let joined = 0;
      for (const key of keys) {
        const need = grow.has(key) ? union(call.fields, grow.get(key)) : call.fields;
        const flight = this.inFlight.get(key);
        if (flight !== undefined && covers(flight.fields, need)) {
          // Already on its way with every field this request needs: wait for it.
          const mine = flight.waiters.get(waiter);
          if (mine === undefined) flight.waiters.set(waiter, [key]);
          else mine.push(key);
          joined++;
          continue;
        }
        let entry = this.pending.get(key);
        if (entry === undefined) {
          entry = { fields: new Set(), waiters: new Set() };
          this.pending.set(key, entry);
        } else if (!entry.waiters.has(waiter)) {
          joined++;
        }
        for (const field of need) entry.fields.add(field);
        entry.waiters.add(waiter);
      }
      if (joined > 0) coalescedIds.inc({ provider: provider.name }, joined);
      signal.addEventListener('abort', onAbort, { once: true });
      this.schedule();
    });
  }

  /** Whether `key` waits for its call or is on its way upstream. */
  has(key: string): boolean {
    return this.pending.has(key) || this.inFlight.has(key);
  }

  /** Sends full chunks at once, the rest when the window closes. */
  private schedule(): void {
    while (this.pending.size >= this.maxBatchSize) this.flush(this.maxBatchSize);
    if (this.pending.size === 0 || this.cancelTimer !== undefined) return;
    const go = () => {
      this.cancelTimer = undefined;
      while (this.pending.size > 0) this.flush(this.maxBatchSize);
    };
    if (this.shared.windowMs <= 0) {
      // Only the keys asked for in this turn of the event loop: the same request's batch, and others'.
      const immediate = setImmediate(go);
      this.cancelTimer = () => clearImmediate(immediate);
    } else {
      this.cancelTimer = this.shared.clock.setTimer(go, this.shared.windowMs);
    }
  }

  /** Sends one call for up to `size` pending keys, asking for the union of the fields their requests need. */
  private flush(size: number): void {
    const taken: Array<[string, PendingKey]> = [];
    for (const pending of this.pending) {
      if (taken.length === size) break;
      taken.push(pending);
    }
    if (taken.length === 0) return;
    const fields = new Set<string>();
    const waiters = new Map<Waiter, string[]>();
    for (const [key, entry] of taken) {
      this.pending.delete(key);
      for (const field of entry.fields) fields.add(field);
      for (const waiter of entry.waiters) {
        const mine = waiters.get(waiter);
        if (mine === undefined) waiters.set(waiter, [key]);
        else mine.push(key);
      }
    }
    const flight: Flight = { fields: [...fields].sort(), waiters, controller: new AbortController() };
    const keys = taken.map(([key]) => key);
    // The call's signal names it to the upstream layer: each request it sends counts for every request still waiting.
    watchUpstream(flight.controller.signal, {
      onRequest(provider) {
        for (const waiter of flight.waiters.keys()) if (!waiter.settled) waiter.sink.noteUpstream?.(provider);
      },
      waiting() {
        const requestIds: string[] = [];
        const traceIds: string[] = [];
        for (const waiter of flight.waiters.keys()) {
          if (waiter.settled) continue;
          if (waiter.sink.requestId !== undefined) requestIds.push(waiter.sink.requestId);
          if (waiter.sink.traceId !== undefined) traceIds.push(waiter.sink.traceId);
        }
        return { requestIds, traceIds };
      },
    });
    for (const key of keys) this.inFlight.set(key, flight);
    void this.send(keys, flight);
  }

  private async send(keys: string[], flight: Flight): Promise<void> {
    const { lookup, client, partition, credential } = this.template;
    const provider = lookup.provider;
    upstreamBatchSize.observe({ provider: provider.name }, keys.length);
    const primes: Array<{ lookup: Lookup<never, unknown>; key: string; value: unknown; fields: FieldSet | undefined }> = [];
    let answers: Map<string, unknown>;
    try {
      answers = await lookup.fetch(client as never, keys, {
        partition,
        fields: flight.fields,
        signal: flight.controller.signal,
        credential,
        logger: this.shared.logger,
        prime: (other, key, value, fields) => {
          primes.push({ lookup: other, key, value, fields });
        },
      });
    } catch (error) {
      // A whole-call failure (rate limit, outage, credentials, or a bug) is reported at every key it covered.
      const failure = batchFailure(error, provider, this.shared.logger);
      answers = new Map(keys.map((key) => [key, failure.forId(key)]));
    }
    for (const key of keys) {
      if (this.inFlight.get(key) === flight) this.inFlight.delete(key);
      if (!answers.has(key)) answers.set(key, new ProviderError({ code: 'NOT_FOUND', provider, id: key }));
    }
    this.dropIfIdle();

    this.shared.store(this.template, flight.fields, answers);
    // Records that came along: one write per lookup and field set, not one per record.
    const primed = new Map<Lookup<never, unknown>, Map<string, { fields: FieldSet; answers: Map<string, unknown> }>>();
    for (const { lookup: other, key, value, fields } of primes) {
      if (fields === undefined) continue;
      const byFields = primed.get(other) ?? new Map<string, { fields: FieldSet; answers: Map<string, unknown> }>();
      primed.set(other, byFields);
      const id = fields.join('\u0000');
      const group = byFields.get(id) ?? { fields, answers: new Map<string, unknown>() };
      byFields.set(id, group);
      group.answers.set(key, value);
    }
    for (const [other, byFields] of primed) {
      for (const { fields, answers: records } of byFields.values()) this.shared.store({ ...this.template, lookup: other }, fields, records);
    }
    for (const [waiter, mine] of flight.waiters) {
      if (waiter.settled) continue;
      for (const prime of primes) waiter.sink.prime(prime.lookup, prime.key, prime.value as never, partition);
      for (const key of mine) waiter.answers.set(key, answers.get(key));
      waiter.outstanding -= mine.length;
      if (waiter.outstanding <= 0) {
        waiter.settled = true;
        waiter.resolve(waiter.answers);
      }
    }
  }

  /** Nothing pending, nothing in flight: the group forgets itself (a later request makes a new one). */
  private dropIfIdle(): void {
    if (this.pending.size === 0 && this.inFlight.size === 0 && this.cancelTimer === undefined) this.onIdle();
  }

  /** A request that went away stops waiting; a call no one waits for any more is dropped. */
  private leave(waiter: Waiter): void {
    if (waiter.settled) return;
    waiter.settled = true;
    waiter.reject(abandoned(this.template.lookup.provider, waiter.signal));
    for (const [key, entry] of this.pending) {
      entry.waiters.delete(waiter);
      if (entry.waiters.size === 0) this.pending.delete(key);
    }
    if (this.pending.size === 0 && this.cancelTimer !== undefined) {
      this.cancelTimer();
      this.cancelTimer = undefined;
    }
    for (const flight of new Set(this.inFlight.values())) {
      if (!flight.waiters.delete(waiter)) continue;
      if ([...flight.waiters.keys()].every((other) => other.settled)) {
        const reason: unknown = waiter.signal.reason;
        flight.controller.abort(
          reason instanceof WorkAbandoned ? reason : new WorkAbandoned('UPSTREAM_UNAVAILABLE', 'no request waits for this call any more'),
        );
      }
    }
    this.dropIfIdle();
  }
}
