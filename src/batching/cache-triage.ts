import type { Logger } from 'pino';
import { type CacheEntry, covers } from '../cache/entry.js';
import { capFreshness } from '../cache/entry-check.js';
import type { RecordWrites } from '../cache/fetch-claims.js';
import type { RecordCache } from '../cache/record-cache.js';
import type { Clock } from '../core/clock.js';
import { IncompleteRecord, ProviderError } from '../core/errors.js';
import type { Lookup } from '../core/lookup.js';
import type { FieldSet, ProviderId } from '../core/types.js';
import { cacheRejectedEntries, cacheRequests } from '../telemetry/metrics.js';
import type { CallTarget, LookupCall } from './lookup-call.js';

/**
 * The record cache as a request's batch meets it: which keys it answers, which go upstream (and with
 * which fields), and what a failed upstream call leaves the request with.
 *
 * - **Hits.** An entry answers while fresh when the fields it was fetched with cover what the request
 *   needs of the record itself (`Lookup.recordFields`). A negative answer (NOT_FOUND, SUSPENDED) answers
 *   whatever the fields, for its own shorter time.
 * - **Growing.** An entry met but not answering is fetched again with the union of its fields and the
 *   request's, so it grows instead of being refetched field by field.
 * - **Stale, and only what it has.** When the upstream cannot answer (RATE_LIMITED, UPSTREAM_UNAVAILABLE),
 *   an entry met that is within its stale window answers instead, as a `PartialAnswer`: the request
 *   answers the fields the entry was fetched with, marked stale, and every other field `null` with the
 *   upstream's error at its path. The same for an `IncompleteRecord` (the part of a record an upstream
 *   gave before it failed), unless a stale entry answers more.
 * - **Storing.** What a call brought back is kept with the fields it was fetched with; negative answers
 *   for a shorter time; failures never. A store that fails costs calls, never a request.
 *
 * With the cache off for a provider, only the last two rules about failures apply (`settle` without a
 * visit): an incomplete record is answered for what it has.
 */
/** What eviction needs of a lookup: its name, its key and the other keys its records are cached under. */
export type EvictableLookup = Pick<Lookup<unknown>, 'name' | 'key' | 'aliasesOf'>;

export interface CachePolicy {
  enabled: boolean;
  /** A record is fresh this long. */
  ttlMs: number;
  /** A negative answer (NOT_FOUND, SUSPENDED) is fresh this long. */
  missingTtlMs: number;
  /** After it stops being fresh, an entry may still be served this long when the upstream cannot answer. */
  staleMs: number;
}

export interface CacheTriageOptions {
  cache: RecordCache;
  policy(provider: ProviderId): CachePolicy;
  clock: Clock;
  logger: Logger;
  /** Prefixes every cache key (several deployments may share one Redis). */
  keyPrefix?: string;
  /** Where the writes `store` sends are told of, for the claims' releases to wait on (`FetchClaims.writes`: a Cluster's). */
  writes?: RecordWrites;
}

/** One request's batch on its way through the cache. */
export interface CacheVisit<R> {
  readonly call: LookupCall<R>;
  /** The fields the cached record must have been fetched with. */
  readonly need: FieldSet;
  /** Each key's cache key, built once. */
  readonly places: ReadonlyMap<string, string>;
  /** The answers so far. */
  readonly results: Map<string, R | ProviderError>;
  /** Entries met that did not answer: they grow with the next call, or answer stale should it fail. */
  readonly met: Map<string, CacheEntry>;
  /** The fields each met entry has, for the next call to ask too (`Coalescer.fetch`'s `grow`). */
  readonly grow: Map<string, FieldSet>;
  /** Claims this replica took for the batch's keys (`FetchClaims`), given back once their answers are stored. */
  readonly claimed: string[];
}

export class CacheTriage {
  constructor(private readonly options: CacheTriageOptions) {}

  enabled(provider: ProviderId): boolean {
    return this.options.policy(provider).enabled;
  }

  /** Reads `keys`' entries: the hits answer in the visit; resolves the keys that missed. */
  async visit<R>(call: LookupCall<R>, keys: readonly string[]): Promise<{ visit: CacheVisit<R>; missing: string[] }> {
    const { lookup } = call;
    const visit: CacheVisit<R> = {
      call,
      // What the cached record itself must have been fetched with; expansions are looked up on their own.
      need: lookup.recordFields(call.fields),
      places: this.places(call, keys),
      results: new Map(),
      met: new Map(),
      grow: new Map(),
      claimed: [],
    };
    const missing = this.answer(visit, keys, await this.read([...visit.places.values()]));
    return { visit, missing };
  }

  /** Answers the keys whose entries (`entries[i]` is `keys[i]`'s) are hits; notes the others' entries; returns the misses. */
  answer<R>(visit: CacheVisit<R>, keys: readonly string[], entries: ReadonlyArray<CacheEntry | undefined>): string[] {
    const { call, need, results } = visit;
    const now = this.options.clock.wallNow();
    const missing: string[] = [];
    let hits = 0;
    const policy = this.options.policy(call.lookup.provider);
    keys.forEach((key, i) => {
      // Fresh no longer than this deployment's TTLs from when it was written, whatever the entry says.
      const read = entries[i];
      const entry = read === undefined ? undefined : capFreshness(read, policy, now);
      if (entry !== undefined && entry.freshUntil > now && (entry.missing !== undefined || covers(entry.fields, need))) {
        const value = this.decode(call, key, entry);
        if (value !== UNREADABLE) {
          results.set(key, value);
          hits++;
          return;
        }
      }
      missing.push(key);
      if (entry === undefined) return;
      visit.met.set(key, entry);
      if (entry.record !== undefined) visit.grow.set(key, entry.fields);
    });
    if (hits > 0) cacheRequests.inc({ provider: call.lookup.provider.name, result: 'hit' }, hits);
    return missing;
  }

  /**
   * What the request answers for `keys`, which went upstream and came back as `fetched`: the upstream's
   * answer, or, when it could not answer, a stale entry the visit met, or the part of the record it gave
   * (see the rules above). Into `visit.results` when there is a visit.
   */
  settle<R>(
    call: LookupCall<R>,
    keys: readonly string[],
    fetched: ReadonlyMap<string, R | ProviderError>,
    visit?: CacheVisit<R>,
  ): Map<string, R | ProviderError> {
    const results = visit?.results ?? new Map<string, R | ProviderError>();
    const now = this.options.clock.wallNow();
    const { lookup, request } = call;
    let staleServed = 0;
    for (const key of keys) {
      const value = fetched.get(key);
      if (value === undefined) continue;
      if (!(value instanceof ProviderError)) {
        results.set(key, value);
        continue;
      }
      const entry = visit?.met.get(key);
      const incomplete = value instanceof IncompleteRecord ? value : undefined;
      if (
        entry?.record !== undefined &&
        unanswered(value) &&
        entry.staleUntil > now &&
        (incomplete === undefined || covers(entry.fields, incomplete.fields))
      ) {
        const record = this.decode(call, key, entry);
        if (record !== UNREADABLE && !(record instanceof ProviderError)) {
          const ttlMs = this.options.policy(lookup.provider).ttlMs;
          const staleSeconds = Math.max(0, Math.round((now - (entry.freshUntil - ttlMs)) / 1000));
          results.set(key, request.servePartial({ lookup, key, record, fields: entry.fields, error: plain(value), staleSeconds }) as R);
          staleServed++;
          continue;
        }
      }
      if (incomplete !== undefined) {
        results.set(
          key,
          request.servePartial({ lookup, key, record: incomplete.record, fields: incomplete.fields, error: plain(incomplete) }) as R,
        );
        continue;
      }
      results.set(key, value);
    }
    if (visit !== undefined) {
      // One count per batch and result, not one per key.
      const provider = lookup.provider.name;
      if (staleServed > 0) cacheRequests.inc({ provider, result: 'stale' }, staleServed);
      if (keys.length > staleServed) cacheRequests.inc({ provider, result: 'miss' }, keys.length - staleServed);
    }
    return results;
  }

  /** Stores what a call brought back: records with the fields they were fetched with, negative answers shorter. */
  store(target: CallTarget, fields: FieldSet, answers: ReadonlyMap<string, unknown>): void {
    const policy = this.options.policy(target.lookup.provider);
    if (!policy.enabled) return;
    const now = this.options.clock.wallNow();
    const entries: Array<[string, CacheEntry]> = [];
    const recordFields = target.lookup.recordFields(fields);
    const prefix = this.prefix(target);
    for (const [key, value] of answers) {
      let entry: CacheEntry | undefined;
      try {
        entry = toEntry(target, value, recordFields, now, policy);
      } catch (error) {
        // A record the codec cannot write is answered all the same, only not kept.
        this.options.logger.warn({ provider: target.lookup.provider.name, err: error }, 'record not cacheable');
      }
      if (entry !== undefined) entries.push([prefix + key, entry]);
    }
    if (entries.length === 0) return;
    // Not awaited: the requests have their answers without waiting for the cache. The write is sent now,
    // before any request hears of the answers, so before any claim on these keys is given back; where that
    // is not enough to order the two (a Cluster), the release waits for it (`RecordWrites`, `FetchClaims`).
    const write = this.options.cache
      .set(entries)
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'record cache unwritable: answers not kept'));
    this.options.writes?.track(entries, write);
  }

  /** Cached entries; a store that fails answers nothing (misses), never a failed request. */
  async read(places: readonly string[]): Promise<Array<CacheEntry | undefined>> {
    try {
      return await this.options.cache.get(places);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'record cache unreadable: asking the upstream');
      return places.map(() => undefined);
    }
  }

  /**
   * Removes cached entries: every entry of `provider` (all of them without one), or only those of one
   * key (in every lookup, credential scope and partition of the provider). Resolves how many.
   */
  evict(provider?: string, key?: string): Promise<number> {
    const prefix = `${this.options.keyPrefix ?? ''}${provider === undefined ? '' : `${provider}${SEPARATOR}`}`;
    return this.options.cache.evict(prefix, key === undefined ? '' : `${SEPARATOR}${key}`);
  }

  /**
   * Removes every entry of one user: those under `key` in every lookup, scope and partition of `provider`,
   * and those under the other keys its cached records name (`Lookup.aliasesOf`: an X user's username),
   * read from the entries of the server's own credentials. Resolves how many.
   */
  async evictUser(provider: string, key: string, lookups: ReadonlyArray<EvictableLookup>): Promise<number> {
    const base = `${this.options.keyPrefix ?? ''}${provider}${SEPARATOR}`;
    const own = lookups.filter((lookup) => lookup.key.isValid(key));
    const entries = await this.read(own.map((lookup) => `${base}${lookup.name}${SEPARATOR}${SEPARATOR}${SEPARATOR}${key}`));
    const aliases = new Map<string, { lookup: string; key: string }>();
    entries.forEach((entry, i) => {
      if (entry?.record === undefined) return;
      for (const alias of own[i]!.aliasesOf(entry.record)) aliases.set(`${alias.lookup}${SEPARATOR}${alias.key}`, alias);
    });
    let evicted = await this.evict(provider, key);
    for (const alias of aliases.values()) {
      if (alias.key === key) continue;
      evicted += await this.options.cache.evict(`${base}${alias.lookup}${SEPARATOR}`, `${SEPARATOR}${alias.key}`);
    }
    return evicted;
  }

  /** Each key's place: provider, lookup, credential scope, partition and key, every part separated. */
  private places(target: CallTarget, keys: readonly string[]): Map<string, string> {
    const prefix = this.prefix(target);
    const places = new Map<string, string>();
    for (const key of keys) places.set(key, prefix + key);
    return places;
  }

  /** What every place of `target`'s keys starts with, built once per batch. */
  private prefix({ lookup, credential, partition }: CallTarget): string {
    return `${this.options.keyPrefix ?? ''}${lookup.provider.name}${SEPARATOR}${lookup.name}${SEPARATOR}${credential?.scope ?? ''}${SEPARATOR}${partition}${SEPARATOR}`;
  }

  /** An entry's answer; UNREADABLE when the lookup's codec cannot read it (written by another version): a miss. */
  private decode<R>(call: LookupCall<R>, key: string, entry: CacheEntry): R | ProviderError | typeof UNREADABLE {
    const { provider } = call.lookup;
    const { codec } = call.calls;
    if (entry.missing !== undefined) return new ProviderError({ code: entry.missing.code, provider, id: key }, entry.missing.message);
    // What other processes can write (Redis) is checked for shape too; this process's memory is its own.
    if (!call.lookup.carries(entry.record, key) || (entry.shared === true && !call.lookup.isRecord(entry.record))) {
      // Well-formed, filed under this key, but holding a record of another (or none): a miss, counted, overwritten.
      cacheRejectedEntries.inc({ reason: 'record' });
      return UNREADABLE;
    }
    if (codec === undefined) return entry.record as R;
    try {
      return codec.decode(entry.record);
    } catch (error) {
      this.options.logger.warn({ provider: provider.name, lookup: call.lookup.name, err: error }, 'unreadable cache entry: fetched again');
      return UNREADABLE;
    }
  }
}

/** What `decode` answers for an entry the lookup's codec cannot read. */
const UNREADABLE: unique symbol = Symbol('unreadable');

/** Separates the parts of a cache key; no key, name or scope contains it. */
const SEPARATOR = '|';

/** An upstream's failure to answer, for which a stale entry is better than an error. */
function unanswered(error: ProviderError): boolean {
  return error.code === 'RATE_LIMITED' || error.code === 'UPSTREAM_UNAVAILABLE';
}

/** The failure alone, without the part of a record an `IncompleteRecord` carries. */
function plain(error: ProviderError): ProviderError {
  return error instanceof IncompleteRecord
    ? new ProviderError({ code: error.code, provider: error.provider, id: error.id, retryAfter: error.retryAfter }, error.message)
    : error;
}

function toEntry({ calls }: CallTarget, value: unknown, fields: FieldSet, now: number, policy: CachePolicy): CacheEntry | undefined {
  if (value instanceof ProviderError) {
    if (value.code !== 'NOT_FOUND' && value.code !== 'SUSPENDED') return undefined; // not an answer about the user
    const freshUntil = now + policy.missingTtlMs;
    return { missing: { code: value.code, message: value.message }, fields: [], freshUntil, staleUntil: freshUntil, at: now };
  }
  const freshUntil = now + policy.ttlMs;
  const record = calls.codec === undefined ? value : calls.codec.encode(value);
  return { record, fields, freshUntil, staleUntil: freshUntil + policy.staleMs, at: now };
}
