import { ProviderError } from '../../upstream/errors.js';
import type { UpstreamClient } from '../../upstream/http.js';
import type { NexudusTokenResponse } from './wire.js';

export type NexudusCredentials = { kind: 'token'; token: string } | { kind: 'password'; username: string; password: string };

/**
 * The bearer token of one Nexudus account, shared by every request: fetched once (one `POST /api/token`
 * however many callers ask at the same moment), renewed with the refresh token shortly before it
 * expires, and re-obtained once when the API answers 401. A configured `NEXUDUS_TOKEN` is used as is.
 */
export class NexudusTokenSource {
  private current: { accessToken: string; refreshToken: string | undefined; renewAt: number } | undefined;
  private pending: Promise<string> | undefined;
  /** The refresh token of a token the API refused: still worth a try before the password. */
  private lastRefreshToken: string | undefined;

  constructor(
    private readonly credentials: NexudusCredentials,
    private readonly http: UpstreamClient,
    /** Renew this long before the token expires (at most a tenth of its lifetime). */
    private readonly marginMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** A token believed valid. */
  get(): Promise<string> {
    if (this.credentials.kind === 'token') return Promise.resolve(this.credentials.token);
    if (this.current !== undefined && this.now() < this.current.renewAt) return Promise.resolve(this.current.accessToken);
    return this.obtain();
  }

  /** The API refused `rejected`: get another, unless someone already did. `undefined`: there is no other. */
  async renew(rejected: string): Promise<string | undefined> {
    if (this.credentials.kind === 'token') return undefined;
    if (this.current !== undefined && this.current.accessToken !== rejected) return this.current.accessToken;
    this.lastRefreshToken = this.current?.refreshToken;
    this.current = undefined;
    return this.obtain();
  }

  private obtain(): Promise<string> {
    this.pending ??= this.request().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async request(): Promise<string> {
    const refreshToken = this.current?.refreshToken ?? this.lastRefreshToken;
    if (refreshToken !== undefined) {
      try {
        return await this.grant({ grant_type: 'refresh_token', refresh_token: refreshToken });
      } catch {
        // A refresh token that no longer works: the password still does.
      }
    }
    if (this.credentials.kind !== 'password') throw new ProviderError({ code: 'UNAUTHENTICATED', provider: 'nexudus' });
    return this.grant({ grant_type: 'password', username: this.credentials.username, password: this.credentials.password });
  }

  private async grant(form: Record<string, string>): Promise<string> {
    // Form-encoded, as Nexudus's OAuth server requires (JSON is refused).
    const response = await this.http.send({
      method: 'POST',
      label: 'POST /api/token',
      path: '/api/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
    });
    const body = response.body as Partial<NexudusTokenResponse> | undefined;
    if (typeof body?.access_token !== 'string') throw new ProviderError({ code: 'UNAUTHENTICATED', provider: 'nexudus' });
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : 3600;
    const lifetimeMs = expiresIn * 1000;
    const renewAt = this.now() + lifetimeMs - Math.min(this.marginMs, lifetimeMs / 10);
    this.current = { accessToken: body.access_token, refreshToken: body.refresh_token, renewAt };
    return body.access_token;
  }
}
