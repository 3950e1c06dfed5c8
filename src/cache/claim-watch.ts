import { type Clock, sleep } from '../core/clock.js';
import type { RedisLink } from '../redis/link.js';

/**
 * One wait per claimed key per replica, however many requests wait on it (issue 20: each waiter used to
 * poll Redis on its own, 46,000 commands a second for 200 of them).
 *
 * A request waiting for another replica's answer registers the claim keys it waits on, and is woken when
 * one of them may have been given back:
 * - at once when this process gives it back (`released`: the holder was another request of ours);
 * - by the message another replica publishes when it gives claims back (`CHANNEL`, sent by the release
 *   script after the answers were stored, so whoever wakes finds them);
 * - by this replica's one look, for the messages a lost subscription missed and the claims that lapsed
 *   with a replica that died: every watched key in one MGET, after `pollMs`, then twice as long each time
 *   up to `maxPollMs`, while anything is watched. Redis unreachable: everyone wakes, and finds out for
 *   themselves (the claims then answer "nobody holds it").
 *
 * A request whose keys another replica's call took from the shared queue waits for their entries instead
 * (`wait(…, 'stored')`: the claims are its own replica's, nobody gives them back): the look wakes it once
 * one of them is in the cache.
 *
 * A woken waiter claims its keys again (one command per waiter per wake, not per poll): waking is only a
 * hint, and a waiter woken for a key still held goes back to waiting.
 */
export class ClaimWatch {
  /** Claim key (or cache key, for 'stored') → what wakes it, and the wake-ups of the waiters on it. */
  private readonly watched = new Map<string, { until: 'released' | 'stored'; wakes: Set<() => void> }>();
  private looking = false;
  private subscribed = false;

  constructor(
    private readonly link: RedisLink,
    private readonly clock: Clock,
    /** The pub/sub channel release messages come on (claim keys, one per line). */
    readonly channel: string,
    private readonly pollMs: number,
    private readonly maxPollMs: number,
  ) {}

  /**
   * Resolves once one of `keys` may have been given back (claim keys, `released`) or stored (cache keys,
   * `stored`), or after `ms`; rejects with the signal's reason if it is aborted first.
   */
  wait(keys: readonly string[], ms: number, signal: AbortSignal, until: 'released' | 'stored' = 'released'): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    this.subscribe();
    return new Promise((resolve, reject) => {
      const done = () => {
        cancel();
        signal.removeEventListener('abort', onAbort);
        for (const key of keys) {
          const watch = this.watched.get(key);
          if (watch === undefined) continue;
          watch.wakes.delete(wake);
          if (watch.wakes.size === 0) this.watched.delete(key);
        }
      };
      const wake = () => {
        done();
        resolve();
      };
      const onAbort = () => {
        done();
        reject(signal.reason);
      };
      const cancel = this.clock.setTimer(wake, ms);
      signal.addEventListener('abort', onAbort, { once: true });
      for (const key of keys) {
        let watch = this.watched.get(key);
        if (watch === undefined) {
          watch = { until, wakes: new Set() };
          this.watched.set(key, watch);
        }
        watch.wakes.add(wake);
      }
      void this.look();
    });
  }

  /** Wakes whoever waits on `claimKeys` (given back here, or announced by another replica). */
  released(claimKeys: Iterable<string>): void {
    for (const key of claimKeys) {
      const watch = this.watched.get(key);
      if (watch === undefined) continue;
      for (const wake of [...watch.wakes]) wake();
    }
  }

  /** How many claim keys are watched now (tests, metrics). */
  get size(): number {
    return this.watched.size;
  }

  private subscribe(): void {
    if (this.subscribed) return;
    this.subscribed = true;
    this.link.subscribe(this.channel, (message) => this.released(message.split('\n')));
  }

  /** The replica's one look, while anything is watched. */
  private async look(): Promise<void> {
    if (this.looking) return;
    this.looking = true;
    try {
      let delay = this.pollMs;
      while (this.watched.size > 0) {
        await sleep(delay, this.clock);
        delay = Math.min(delay * 2, this.maxPollMs);
        const keys = [...this.watched.keys()];
        if (keys.length === 0) break;
        const values = await this.link.orLocal(
          'fetch-claims',
          (client) => this.link.mget(client, keys),
          () => undefined,
        );
        // Redis unreachable: everyone wakes, and finds out for themselves.
        if (values === undefined) this.released(keys);
        else {
          this.released(
            keys.filter((key, i) => {
              const there = values[i] !== null && values[i] !== undefined;
              return this.watched.get(key)?.until === 'stored' ? there : !there;
            }),
          );
        }
      }
    } finally {
      this.looking = false;
    }
  }
}
