import type { Logger } from 'pino';
import type { FetchClaims } from '../cache/fetch-claims.js';
import type { RecordCache } from '../cache/record-cache.js';
import type { Clock } from '../core/clock.js';
import type { ProviderError } from '../core/errors.js';
import type { ProviderId } from '../core/types.js';
import { resolutions } from '../telemetry/metrics.js';
import { type CachePolicy, CacheTriage, type EvictableLookup } from './cache-triage.js';
import { Coalescer } from './coalescer.js';
import type { LookupCall } from './lookup-call.js';
import { ReplicaClaims } from './replica-claims.js';
import { HandedOver } from './replica-queue.js';

/**
 * The layer under every request's loaders, shared by all requests of the process and, through Redis,
 * by every replica (docs/architecture.md, "How a lookup travels"). A request's batch of keys for one lookup travels:
 *
 * 1. **cache triage** (`cache-triage.ts`): fresh entries that have every field needed answer; the others
 *    are noted (to grow, or to answer stale);
 * 2. **claims** (`replica-claims.ts`, with Redis): keys another replica is fetching are awaited in the
 *    shared cache, the rest claimed;
 * 3. **coalescing** (`coalescer.ts`): what is left joins one upstream call with every other request's
 *    keys of the same lookup, credential scope and partition;
 * 4. **settling** (`cache-triage.ts`): the upstream's answers are stored, and where it could not answer
 *    a stale entry, or the part of a record it gave, answers the fields it has: never the others.
 *
 * Every request gets exactly the answers for its own keys. With the cache on or off, the answer is the
 * same but for stale data, which is marked as such (docs/sharing.md, "Record cache").
 */
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
  /** The budget planner's limits, for lookups whose calls have a budget (`planner.ts`); none: every call goes when its batch closes. */
  hold?: { maxHoldMs: number; maxQueuedKeys: number };
}

export class SharedLookups {
  private readonly triage: CacheTriage;
  private readonly coalescer: Coalescer;
  private readonly claims: ReplicaClaims | undefined;

  constructor(options: SharedLookupsOptions) {
    const { cache, policy, clock, logger, keyPrefix, windowMs } = options;
    this.triage = new CacheTriage({
      cache,
      policy,
      clock,
      logger,
      ...(keyPrefix === undefined ? {} : { keyPrefix }),
      ...(options.claims?.writes === undefined ? {} : { writes: options.claims.writes }),
    });
    this.coalescer = new Coalescer({
      windowMs,
      ...(options.hold === undefined ? {} : { hold: options.hold }),
      clock,
      logger,
      onAnswers: (target, fields, answers) => this.triage.store(target, fields, answers),
      // Another replica's call may carry this replica's keys only where its answers come back through the
      // shared cache, and a key handed over is waited for as a claimed one.
      shares: (target) => this.claims !== undefined && this.triage.enabled(target.lookup.provider),
    });
    this.claims = options.claims && new ReplicaClaims(options.claims, this.triage, this.coalescer, clock);
  }

  /** The answers for `asked` (distinct, valid), keyed by normalized key; a key absent from the map was not found. */
  async load<R>(call: LookupCall<R>, asked: readonly string[]): Promise<Map<string, R | ProviderError>> {
    // Keys that name the same record (usernames in another case) are one key here, across requests.
    const normalize = call.lookup.key.normalize;
    const keys = normalize === undefined ? asked : [...new Set(asked.map(normalize))];
    resolutions.inc({ provider: call.lookup.provider.name }, keys.length);
    if (!this.triage.enabled(call.lookup.provider)) return this.triage.settle(call, keys, await this.coalescer.fetch(call, keys));

    const { visit, missing } = await this.triage.visit(call, keys);
    if (missing.length === 0) return visit.results;
    const sent: string[] = [];
    const calls: Array<Promise<Map<string, R | ProviderError>>> = [];
    const go = (some: readonly string[]) => {
      if (some.length === 0) return;
      sent.push(...some);
      const answers = this.coalescer.fetch(call, some, visit.grow);
      answers.catch(() => {}); // awaited below; a wait that fails first must not leave it unhandled
      calls.push(answers);
    };
    const fetched = new Map<string, R | ProviderError>();
    try {
      if (this.claims === undefined) go(missing);
      else await this.claims.fetch(visit, missing, go);
      // Calls may be added while others are awaited: a key handed over to another replica's call whose
      // claim comes back without an answer is fetched from here after all.
      for (let settled = 0; settled < calls.length; ) {
        const batch = calls.slice(settled);
        settled = calls.length;
        const handed: string[] = [];
        for (const answers of await Promise.all(batch)) {
          for (const [key, value] of answers) {
            if (value instanceof HandedOver) handed.push(key);
            else fetched.set(key, value);
          }
        }
        if (handed.length === 0 || this.claims === undefined) continue;
        // Answered through the shared cache (`visit.results`), not by a call of this replica.
        const elsewhere = new Set(handed);
        for (let i = sent.length - 1; i >= 0; i--) if (elsewhere.has(sent[i]!)) sent.splice(i, 1);
        await this.claims.waitForHandedOver(visit, handed, go);
      }
    } finally {
      // After the answers were stored (sent first on the same connection; on a Cluster the release waits for
      // their acknowledgement, `FetchClaims.writes`): waiters elsewhere find them.
      this.claims?.release(visit);
    }
    return this.triage.settle(call, sent, fetched, visit);
  }

  /**
   * Removes cached entries: every entry of `provider` (all of them without one), or only those of one
   * key (in every lookup, credential scope and partition of the provider). Resolves how many.
   */
  evict(provider?: string, key?: string, lookups?: ReadonlyArray<EvictableLookup>): Promise<number> {
    if (provider !== undefined && key !== undefined && lookups !== undefined) return this.triage.evictUser(provider, key, lookups);
    return this.triage.evict(provider, key);
  }

  /** Coalescing groups alive now (each has calls pending or in flight): what per-scope state costs. */
  get groupCount(): number {
    return this.coalescer.groupCount;
  }
}
