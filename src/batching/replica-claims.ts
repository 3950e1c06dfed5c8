import type { FetchClaims } from '../cache/fetch-claims.js';
import type { Clock } from '../core/clock.js';
import { abandoned } from '../core/errors.js';
import { coalescedIds } from '../telemetry/metrics.js';
import type { CacheTriage, CacheVisit } from './cache-triage.js';
import type { Coalescer } from './coalescer.js';

/**
 * Between replicas (Redis): the keys a request's batch missed in the cache are claimed before they go
 * upstream (`FetchClaims`), so that two replicas missing the same key at the same moment make one call.
 *
 * - A key claimed now is this replica's to fetch, and to give back once its answer is stored (after the
 *   request's calls, `visit.claimed`), or at once when the cache answered it after all.
 * - A key another replica holds, or another request of this process holds but does not coalesce yet, is
 *   awaited: claimed again each time its claim may have been given back (`FetchClaims.whenReleased`: one
 *   watch per key for every waiter of this replica, woken by Redis), until its answer is in the cache, or
 *   its claim comes back without one (then exactly one waiter, the one whose claim took, fetches it), or
 *   the lease passes.
 * - Everything else is fetched from here at once, joining this process's call for it if there is one.
 */
export class ReplicaClaims {
  constructor(
    private readonly claims: FetchClaims,
    private readonly triage: CacheTriage,
    private readonly coalescer: Coalescer,
    private readonly clock: Clock,
  ) {}

  /** Sends each of `missing` upstream through `go` once it is this replica's to fetch; resolves when none is awaited any more. */
  async fetch<R>(visit: CacheVisit<R>, missing: readonly string[], go: (keys: readonly string[]) => void): Promise<void> {
    const sorted = await this.claim(visit, missing);
    go(sorted.fetch);
    if (sorted.waiting.length === 0) return;
    coalescedIds.inc({ provider: visit.call.lookup.provider.name }, sorted.waiting.length);
    await this.waitForOthers(visit, sorted.waiting, go);
  }

  /**
   * Waits for `keys`, which another replica's call took from the shared queue (`HandedOver`), as for keys
   * another replica claimed: their answers are read from the shared cache once stored; a key whose claim
   * comes back without one is fetched from here through `go`.
   */
  async waitForHandedOver<R>(visit: CacheVisit<R>, keys: readonly string[], go: (keys: readonly string[]) => void): Promise<void> {
    await this.waitForOthers(visit, keys, go, 'stored');
  }

  /** Gives back the claims the visit took, once its answers' writes are in Redis (`FetchClaims.release`). */
  release<R>(visit: CacheVisit<R>): void {
    this.claims.release(visit.claimed);
  }

  /**
   * Claims `keys` and sorts them by the entries read after the claim (a key whose claim we got after
   * another replica gave it back was answered meanwhile: its entry is there now) and by who held them.
   */
  private async claim<R>(visit: CacheVisit<R>, keys: readonly string[]): Promise<{ fetch: string[]; waiting: string[] }> {
    const places = keys.map((key) => visit.places.get(key)!);
    const [holders, entries] = await this.claims.claim(places, () => this.triage.read(places));
    const misses = new Set(this.triage.answer(visit, keys, entries));
    const fetch: string[] = [];
    const waiting: string[] = [];
    const answered: string[] = [];
    keys.forEach((key, i) => {
      const holder = holders[i];
      if (!misses.has(key)) {
        if (holder === 'nobody') answered.push(places[i]!);
        return;
      }
      if (holder === 'other' || (holder === 'me' && !this.coalescer.has(visit.call, key))) {
        waiting.push(key);
        return;
      }
      fetch.push(key);
      if (holder === 'nobody') visit.claimed.push(places[i]!);
    });
    this.claims.release(answered);
    return { fetch, waiting };
  }

  /**
   * Waits until `keys` are answered in the cache (claimed again each time they may be), or taken here.
   * `until`: what wakes a waiter — the claim given back (another replica holds it), or the entry stored
   * (another replica's call carries keys whose claims are this replica's own).
   */
  private async waitForOthers<R>(
    visit: CacheVisit<R>,
    keys: readonly string[],
    go: (keys: readonly string[]) => void,
    until: 'released' | 'stored' = 'released',
  ): Promise<void> {
    const { signal } = visit.call.request;
    const deadline = this.clock.now() + this.claims.leaseMs;
    let waiting = keys;
    while (waiting.length > 0) {
      try {
        const places = waiting.map((key) => visit.places.get(key)!);
        const ms = Math.max(0, deadline - this.clock.now());
        await (until === 'stored' ? this.claims.whenStored(places, ms, signal) : this.claims.whenReleased(places, ms, signal));
      } catch {
        throw abandoned(visit.call.lookup.provider, signal);
      }
      const sorted = await this.claim(visit, waiting);
      // Past the lease, whoever holds a claim is taken for gone: the rest is fetched from here.
      const giveUp = this.clock.now() >= deadline;
      go(giveUp ? [...sorted.fetch, ...sorted.waiting] : sorted.fetch);
      waiting = giveUp ? [] : sorted.waiting;
    }
  }
}
