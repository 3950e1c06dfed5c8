import type { ProviderId } from '../providers/provider.js';
import { ProviderError } from './errors.js';

/** A token as its issuer hands it out: how soon to renew it, if it says (else it is used until refused). */
export interface IssuedToken {
  token: string;
  renewInMs?: number;
}

/**
 * Issues a new token. `previous` is the token being replaced (refused by the API, or about to expire),
 * `undefined` for the first. Throws (a ProviderError, UNAUTHENTICATED) when no new token can be had.
 */
export type TokenIssuer = (previous: string | undefined) => Promise<IssuedToken>;

/**
 * The bearer credential of one upstream account, shared by every request (a renewable OAuth pair,
 * a password-grant token): issued once however many callers ask at the same moment, renewed
 * ahead of its expiry when the issuer gave one, and renewed once when the API refuses it — a caller
 * that lost the race to a renewal simply gets the new token.
 */
export class SharedToken {
  private current: { token: string; renewAt: number } | undefined;
  private pending: Promise<string> | undefined;

  constructor(
    readonly provider: ProviderId,
    private readonly issue: TokenIssuer,
    initial?: string,
    private readonly now: () => number = Date.now,
  ) {
    if (initial !== undefined) this.current = { token: initial, renewAt: Infinity };
  }

  /** A token believed valid. */
  get(): Promise<string> {
    const current = this.current;
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
    this.pending ??= this.issue(previous)
      .then(({ token, renewInMs }) => {
        this.current = { token, renewAt: renewInMs === undefined ? Infinity : this.now() + renewInMs };
        return token;
      })
      .finally(() => (this.pending = undefined));
    return this.pending;
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
