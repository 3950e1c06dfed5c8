import type { Logger } from 'pino';
import { type Clock, sleep } from '../core/clock.js';
import { ProviderError } from '../core/errors.js';
import type { RetryPolicy } from '../core/settings.js';
import type { ProviderId } from '../core/types.js';
import type { StoredToken, TokenStore } from './token-store.js';

/** A token as its issuer hands it out: how soon to renew it, if it says (else it is used until refused). */
export interface IssuedToken {
  token: string;
  renewInMs?: number;
  /**
   * The refresh token that came with it, if any. Where refresh tokens rotate (Bitrix24: each renewal
   * retires the one it used), only the latest works: the next renewal is handed this one.
   */
  refreshToken?: string;
}

/**
 * Issues a new token. `previous` is the token being replaced (refused by the API, or about to expire),
 * `undefined` for the first; `refreshToken` is the latest refresh token known (this process's, or the
 * one another replica stored), `undefined` when none. Throws (a ProviderError, UNAUTHENTICATED) when no
 * new token can be had.
 */
export type TokenIssuer = (previous: string | undefined, refreshToken?: string) => Promise<IssuedToken>;

/** A configured token to start from, and the refresh token that came with it. */
export interface InitialToken {
  token: string;
  refreshToken?: string;
}

/** How the replicas of a deployment share the token (docs/sharing.md, "Sharing upstream calls"). */
export interface SharedTokenReplicas {
  store: TokenStore;
  /** Epoch ms: renewal times the replicas share are absolute. */
  wallNow: () => number;
  /** What polls for another replica's renewal are timed on. */
  clock: Clock;
  /** A bound on one renewal (`renewalBoundMs`): the lock's lifetime, after which a replica that died holding it no longer does. */
  renewalMs: number;
  /** How often a replica waiting for another's renewal looks for its token (ms). */
  pollMs?: number;
  logger?: Logger;
}

/** One renewal's bound: every attempt to its deadline, the waits between them, and a margin. */
export function renewalBoundMs(timeoutMs: number, retry: Pick<RetryPolicy, 'maxAttempts' | 'maxTotalWaitMs'>): number {
  return retry.maxAttempts * timeoutMs + retry.maxTotalWaitMs + 5_000;
}

/** A store call failed: the renewal goes on in-process. Never reaches a caller. */
class StoreUnavailable extends Error {}

/**
 * The bearer credential of one upstream account, shared by every request (a renewable OAuth pair,
 * a password-grant token): issued once however many callers ask at the same moment, renewed
 * ahead of its expiry when the issuer gave one, and renewed once when the API refuses it — a caller
 * that lost the race to a renewal simply gets the new token.
 *
 * With `replicas`, shared by every replica of the deployment too, through a `TokenStore` (Redis):
 * - a replica reads the store once when first asked, and adopts a token other replicas renewed since
 *   its configuration was written;
 * - a renewal (ahead of expiry, or after a refusal) first looks in the store for a newer token than the
 *   one being replaced; only if there is none does it take the store's lock, look once more, renew with
 *   the latest refresh token (the store's when it is at least as new as this process's), store the new
 *   pair and give the lock back. A replica that finds the lock taken polls the store for the new token;
 *   when the lock's holder died, its lock expires and the next one takes it;
 * - a store that cannot be reached (Redis down, a command failed) leaves it all to this process, as
 *   without replicas: a request never fails because of Redis.
 */
export class SharedToken {
  private current: { token: string; renewAt: number } | undefined;
  /** The refresh token that came with the latest token this process knows. */
  private refreshToken: string | undefined;
  /** The store's renewal count of this process's token: 0 for a configured or in-process one. */
  private gen = 0;
  private pending: Promise<string> | undefined;
  /** With replicas: the first look at the store, once. */
  private consulting: Promise<void> | undefined;
  private consulted = false;
  /** With replicas: this process renewed while the store was unavailable; its pair goes there once it is back. */
  private unsynced = false;
  private syncing: Promise<void> | undefined;

  constructor(
    readonly provider: ProviderId,
    private readonly issue: TokenIssuer,
    initial?: string | InitialToken,
    private readonly now: () => number = Date.now,
    private readonly replicas?: SharedTokenReplicas,
  ) {
    if (initial === undefined) return;
    const { token, refreshToken } = typeof initial === 'string' ? { token: initial, refreshToken: undefined } : initial;
    this.current = { token, renewAt: Infinity };
    this.refreshToken = refreshToken;
  }

  /** A token believed valid. */
  get(): Promise<string> {
    if (this.replicas !== undefined && !this.consulted) return this.consult().then(() => this.get());
    const current = this.current;
    if (this.unsynced && this.syncing === undefined && this.replicas?.store.available) {
      this.syncing = this.sync().finally(() => (this.syncing = undefined));
    }
    if (current !== undefined && this.now() < current.renewAt) return Promise.resolve(current.token);
    return this.obtain(current?.token);
  }

  /** The API refused `rejected`: the token to use instead (a new one, or one renewed meanwhile). */
  renew(rejected: string): Promise<string> {
    if (this.current !== undefined && this.current.token !== rejected) return Promise.resolve(this.current.token);
    this.current = undefined; // never hand out a token known to be refused
    return this.obtain(rejected);
  }

  private obtain(previous: string | undefined): Promise<string> {
    this.pending ??= this.renewal(previous).finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async renewal(previous: string | undefined): Promise<string> {
    const { replicas } = this;
    if (replicas?.store.available) {
      try {
        return await this.renewShared(replicas, previous);
      } catch (error) {
        if (!(error instanceof StoreUnavailable)) throw error; // the issuer's: its callers'
        replicas.logger?.debug('token store unavailable: renewing in this process alone');
      }
    }
    const token = this.adoptIssued(await this.issue(previous, this.refreshToken), this.gen + 1);
    this.unsynced = replicas !== undefined;
    return token;
  }

  private async renewShared(replicas: SharedTokenReplicas, previous: string | undefined): Promise<string> {
    const { store, clock, renewalMs } = replicas;
    const seen = await this.stored(() => store.read());
    if (seen !== undefined && this.newer(seen, previous)) return this.adoptStored(seen);
    const giveUpAt = clock.now() + 2 * renewalMs;
    for (;;) {
      const unlock = await this.stored(() => store.lock(renewalMs));
      if (unlock !== undefined) {
        try {
          // A renewal may have finished between the first look and the lock.
          const latest = await this.stored(() => store.read());
          if (latest !== undefined && this.newer(latest, previous)) return this.adoptStored(latest);
          const base = latest !== undefined && latest.gen >= this.gen ? latest.refreshToken : this.refreshToken;
          const token = this.adoptIssued(await this.issue(previous, base), Math.max(this.gen, latest?.gen ?? 0) + 1);
          await store.write(this.snapshot()).catch(() => {
            this.unsynced = true;
            replicas.logger?.warn('could not store the renewed token: it is stored once Redis answers again');
          });
          return token;
        } finally {
          await unlock().catch(() => undefined); // it expires by itself
        }
      }
      // Another replica renews: its token will be in the store.
      if (clock.now() >= giveUpAt) {
        replicas.logger?.warn('no token from the replica renewing it: renewing in this process');
        throw new StoreUnavailable();
      }
      await sleep(replicas.pollMs ?? 50, clock);
      const renewed = await this.stored(() => store.read());
      if (renewed !== undefined && this.newer(renewed, previous)) return this.adoptStored(renewed);
    }
  }

  /** With replicas, the first time a token is asked for: a token the replicas renewed beats the configured one. */
  private consult(): Promise<void> {
    this.consulting ??= (async () => {
      try {
        if (this.replicas?.store.available) {
          const stored = await this.replicas.store.read();
          if (stored !== undefined && stored.gen > this.gen) this.adoptStored(stored);
        }
      } catch {
        // Redis unavailable: this process's own token, and the store is read again at the next renewal.
      } finally {
        this.consulted = true;
      }
    })();
    return this.consulting;
  }

  /**
   * A pair this process renewed alone (Redis was unavailable) goes to the store once it is back, unless
   * the store holds one at least as new: where refresh tokens rotate, this process may hold the only one
   * that still works, and the other replicas take it from there at their next refusal.
   */
  private async sync(): Promise<void> {
    const { store, renewalMs } = this.replicas!;
    if (this.current === undefined) return; // a renewal is under way: it stores its own pair
    try {
      const unlock = await store.lock(renewalMs);
      if (unlock === undefined) return; // another replica renews: look again at the next request
      try {
        const stored = await store.read();
        if (this.current !== undefined && (stored === undefined || stored.gen < this.gen)) await store.write(this.snapshot());
        this.unsynced = false;
      } finally {
        await unlock().catch(() => undefined);
      }
    } catch {
      // Still unavailable: at the next request.
    }
  }

  /** Whether the store's token should be used instead of renewing: newer than this process's, not the one replaced, not due. */
  private newer(stored: StoredToken, previous: string | undefined): boolean {
    if (stored.gen <= this.gen || stored.token === previous) return false;
    return stored.renewAt === undefined || this.replicas!.wallNow() < stored.renewAt;
  }

  private adoptStored(stored: StoredToken): string {
    const { wallNow } = this.replicas!;
    this.current = { token: stored.token, renewAt: stored.renewAt === undefined ? Infinity : this.now() + (stored.renewAt - wallNow()) };
    this.refreshToken = stored.refreshToken;
    this.gen = stored.gen;
    return stored.token;
  }

  private adoptIssued({ token, renewInMs, refreshToken }: IssuedToken, gen: number): string {
    this.current = { token, renewAt: renewInMs === undefined ? Infinity : this.now() + renewInMs };
    this.refreshToken = refreshToken;
    this.gen = gen;
    return token;
  }

  /** This process's token as the store keeps it. */
  private snapshot(): StoredToken {
    const { token, renewAt } = this.current!;
    return {
      gen: this.gen,
      token,
      ...(this.refreshToken === undefined ? {} : { refreshToken: this.refreshToken }),
      ...(renewAt === Infinity ? {} : { renewAt: Math.round(this.replicas!.wallNow() + (renewAt - this.now())) }),
    };
  }

  private async stored<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch {
      throw new StoreUnavailable();
    }
  }
}

/**
 * Sends a request with the account's token; when the API refuses the token, renews it once (shared
 * with every caller in flight) and sends again. A second refusal is UNAUTHENTICATED.
 */
export async function sendWithToken<R>(
  token: SharedToken,
  send: (token: string) => Promise<R>,
  refused: (response: R) => boolean,
): Promise<R> {
  const first = await token.get();
  const response = await send(first);
  if (!refused(response)) return response;
  const again = await send(await token.renew(first));
  if (refused(again)) throw new ProviderError({ code: 'UNAUTHENTICATED', provider: token.provider });
  return again;
}
