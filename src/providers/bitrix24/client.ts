import type { Logger } from 'pino';
import type { z } from 'zod';
import { type Clock, systemClock } from '../../core/clock.js';
import { type ErrorCode, ProviderError } from '../../core/errors.js';
import type { RetryPolicy, UpstreamSettings } from '../../core/settings.js';
import type { CallerCredential } from '../../core/types.js';
import { asCallerFailure } from '../../credentials/refused.js';
import { PacedBudget } from '../../upstream/call-budget.js';
import type { Circuits } from '../../upstream/circuit.js';
import { path, UpstreamClient, type UpstreamResponse, type Verdict } from '../../upstream/http.js';
import { type SharedState, sharedState } from '../../upstream/shared-state.js';
import { type IssuedToken, SharedToken, sendWithToken, type TokenIssuer } from '../../upstream/shared-token.js';
import { parseUpstreamBody } from '../../upstream/wire-check.js';
import type { Bitrix24Config, PortalAccess, PortalRate } from './config.js';
import { BITRIX24 } from './id.js';
import { portalAccount, REFRESH_TOKEN_LIFETIME_MS } from './sharing.js';
import {
  type BitrixApiUser,
  BitrixBatchResponse,
  type BitrixError,
  BitrixFailure,
  BitrixTokenResponse,
  BitrixUserListResponse,
} from './wire.js';

export interface PortalOptions {
  /** How GraphQL names the portal (`Bitrix24User.portal`, the `portal` argument): by default its host. */
  name: string;
  access: PortalAccess;
  rate: PortalRate;
  connections: number;
  timeoutMs: number;
  retry: RetryPolicy;
  logger: Logger;
  clock?: Clock;
  circuits?: Circuits;
  /** What replicas share: the portal's bucket and OAuth pair (`sharing.ts`); this process alone unless given. */
  shared?: SharedState;
}

/** What one `im.user.list.get` command produced: users keyed by id (`null` for unknown), or an error. */
export type UserListOutcome = { users: Record<string, BitrixApiUser | null> } | { error: BitrixError };

/**
 * One Bitrix24 portal: `im.user.list.get` alone, or several of them in one `batch` request, paced by
 * a client-side leaky bucket matching the portal's own (so QUERY_LIMIT_EXCEEDED stays rare), over the
 * shared upstream HTTP layer. With OAuth, an `expired_token` answer renews the shared token once for
 * all callers in flight (`SharedToken`) and the request is sent again.
 */
export class Bitrix24Portal {
  /** What the budget planner asks before a call to this portal goes. */
  readonly budget: PacedBudget;
  readonly name: string;
  /** `https://<portal host>`: where its users' profile pages are (never the webhook's path, which holds its secret). */
  readonly origin: string;
  private readonly http: UpstreamClient;
  /** Calls made with a caller's own access token (docs/access-control.md, "Per-caller credentials"): the portal's REST base, no renewal. */
  private readonly callerHttp: UpstreamClient;
  private readonly oauthHttp: UpstreamClient | undefined;
  /** OAuth only: the access token, renewed through the refresh token when the portal says it expired. */
  private readonly token: SharedToken | undefined;
  private readonly logger: Logger;

  constructor(options: PortalOptions) {
    this.name = options.name;
    this.origin = new URL(restBase(options.access)).origin;
    const { access, connections, timeoutMs, retry, logger, clock = systemClock, circuits } = options;
    this.logger = logger;
    const base = access.kind === 'webhook' ? access.webhookUrl : restBase(access);
    // One pacer and one circuit for the portal, whoever's token a call carries: the portal's bucket counts
    // every request it gets, and whether it answers at all does not depend on the token.
    const account = portalAccount(options.name);
    const shared = options.shared ?? sharedState(undefined, { timeoutMs, retry }, clock, logger);
    const pacer = shared.pacer(account, [{ kind: 'bucket', ...options.rate }]);
    // The portal's leaky bucket is its budget: a batch that is not full waits to fill while the bucket would make it wait.
    this.budget = new PacedBudget(() => pacer.readyInMs());
    const circuit = circuits?.create(BITRIX24, options.name);
    // A batch of 50 commands of 50 users, high-resolution avatars included, stays under 4 MiB.
    const portal = { provider: BITRIX24, connections, timeoutMs, retry, logger, pacer, clock, circuit, maxBodyBytes: 16 * 1024 * 1024 };
    this.http = new UpstreamClient({
      ...portal,
      baseUrl: base,
      classify: (response) => classifyBitrixResponse(response, access.kind === 'oauth', clock),
    });
    // A caller's token goes to this configured portal's REST base and nowhere else (a caller names a portal
    // by its configured name, never by a URL). It is not renewed: an expired_token is UNAUTHENTICATED.
    this.callerHttp = new UpstreamClient({
      ...portal,
      baseUrl: restBase(access),
      classify: (response) => classifyBitrixResponse(response, false, clock),
    });
    if (access.kind === 'oauth') {
      const { refresh } = access;
      this.oauthHttp =
        refresh &&
        new UpstreamClient({
          provider: BITRIX24,
          baseUrl: refresh.oauthUrl,
          connections: 2,
          timeoutMs,
          clock,
          circuit: circuits?.create(BITRIX24, `${options.name} oauth`),
          maxBodyBytes: 64 * 1024,
          retry,
          logger,
          classify: classifyOAuthResponse,
        });
      const issue: TokenIssuer =
        refresh && this.oauthHttp
          ? refreshingIssuer(refresh, this.oauthHttp, logger)
          : async () => {
              throw new ProviderError({ code: 'UNAUTHENTICATED', provider: BITRIX24 }); // no refresh token configured
            };
      // With Redis, the pair is shared by every replica: one renewal, with the latest refresh token, for all.
      const replicas =
        refresh &&
        shared.tokens({ account, secret: refresh.clientSecret, purpose: `bitrix24 ${options.name}`, ttlMs: REFRESH_TOKEN_LIFETIME_MS });
      const initial = { token: access.accessToken, refreshToken: refresh?.refreshToken };
      this.token = new SharedToken(BITRIX24, issue, initial, () => clock.now(), replicas);
    }
  }

  /** One `im.user.list.get` for these ids: with the portal's credentials, or with `credential`, a caller's own access token. */
  async userList(ids: readonly number[], avatarHr: boolean, signal?: AbortSignal, credential?: CallerCredential): Promise<UserListOutcome> {
    const payload = { ID: ids, ...(avatarHr ? { AVATAR_HR: 'Y' } : {}) };
    const body = await this.post('im.user.list.get', payload, ids.length, BitrixUserListResponse, signal, credential);
    return { users: asMap(body.result) };
  }

  /** Several `im.user.list.get` commands in one `batch` request (at most BITRIX_MAX_BATCH_COMMANDS). */
  async batchUserLists(
    chunks: readonly (readonly number[])[],
    avatarHr: boolean,
    signal?: AbortSignal,
    credential?: CallerCredential,
  ): Promise<UserListOutcome[]> {
    const cmd: Record<string, string> = {};
    chunks.forEach((ids, i) => {
      // A command is a method and its query string, which Bitrix24 decodes as PHP does.
      const query = new URLSearchParams(ids.map((id): [string, string] => ['ID[]', String(id)]));
      if (avatarHr) query.append('AVATAR_HR', 'Y');
      cmd[`c${i}`] = `im.user.list.get?${query}`;
    });
    const ids = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    const body = await this.post('batch', { halt: 0, cmd }, ids, BitrixBatchResponse, signal, credential);
    const results = asMap(body.result.result);
    const errors = asMap(body.result.result_error);
    return chunks.map((_, i) => {
      const error = errors[`c${i}`];
      if (error) return { error };
      return { users: asMap(results[`c${i}`] ?? []) };
    });
  }

  private async post<S extends z.ZodType>(
    method: string,
    payload: Record<string, unknown>,
    ids: number,
    schema: S,
    signal: AbortSignal | undefined,
    credential?: CallerCredential,
  ): Promise<z.output<S>> {
    if (credential !== undefined) return this.postAsCaller(method, payload, ids, schema, signal, credential);
    const send = (token?: string) =>
      this.http.send(
        {
          method: 'POST',
          label: method,
          ids,
          path: path`/${method}`,
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify(token === undefined ? payload : { ...payload, auth: token }),
        },
        signal,
      );
    // The only non-200 the classifier lets through is OAuth's expired_token.
    const response = this.token === undefined ? await send() : await sendWithToken(this.token, send, (r) => r.status === 401);
    if (response.status !== 200) throw this.error('UNAUTHENTICATED');
    return parseUpstreamBody(schema, response.body, { provider: BITRIX24, method, logger: this.logger });
  }

  /** `post` with a caller's own access token, under its scope; its refusal is the caller's, and nothing is renewed. */
  private async postAsCaller<S extends z.ZodType>(
    method: string,
    payload: Record<string, unknown>,
    ids: number,
    schema: S,
    signal: AbortSignal | undefined,
    credential: CallerCredential,
  ): Promise<z.output<S>> {
    let response: UpstreamResponse;
    try {
      response = await this.callerHttp.send(
        {
          method: 'POST',
          label: method,
          ids,
          path: path`/${method}`,
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ ...payload, auth: credential.token }),
          scope: credential.scope,
        },
        signal,
      );
    } catch (error) {
      throw asCallerFailure(BITRIX24, error);
    }
    return parseUpstreamBody(schema, response.body, { provider: BITRIX24, method, logger: this.logger });
  }

  private error(code: ErrorCode): ProviderError {
    return new ProviderError({ code, provider: BITRIX24 });
  }

  async close(): Promise<void> {
    await Promise.all([this.http.close(), this.callerHttp.close(), this.oauthHttp?.close()]);
  }
}

/**
 * Every configured portal by name, and the ids per command: what the Bitrix24 provider's lookups use.
 */
export class Bitrix24Service {
  readonly portals: ReadonlyMap<string, Bitrix24Portal>;
  readonly maxIdsPerCall: number;

  constructor(
    config: Bitrix24Config,
    upstream: UpstreamSettings,
    logger: Logger,
    clock: Clock = systemClock,
    circuits?: Circuits,
    shared: SharedState = sharedState(undefined, upstream, clock, logger),
  ) {
    const { timeoutMs, connections, retry } = upstream;
    this.maxIdsPerCall = config.maxIdsPerCall;
    this.portals = new Map(
      config.portals.map((portal) => [
        portal.name,
        new Bitrix24Portal({
          ...portal,
          connections,
          timeoutMs,
          retry,
          clock,
          circuits,
          shared,
          logger: logger.child({ portal: portal.name }),
        }),
      ]),
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.portals.values()].map((portal) => portal.close()));
  }
}

/**
 * Renews an access token through Bitrix24's OAuth server (`grant_type=refresh_token`) with the latest
 * refresh token `SharedToken` knows. Each answer carries a new refresh token, which retires the one used:
 * it goes back with the access token, to be used next time (by every replica, with Redis).
 *
 * The pair this process starts from is the configured one, unless the replicas stored a newer one. When
 * the stored refresh token is refused and this process never sent the configured one, the configured one
 * is tried once: it may be a new pair an operator set (a reinstalled app) while Redis held the old one.
 * Without Redis the configured one is the first ever sent, so nothing changes there.
 */
function refreshingIssuer(
  refresh: { refreshToken: string; clientId: string; clientSecret: string },
  oauthHttp: UpstreamClient,
  logger: Logger,
): TokenIssuer {
  let configuredSent = false;
  const renewWith = async (refreshToken: string): Promise<IssuedToken> => {
    if (refreshToken === refresh.refreshToken) configuredSent = true;
    const query = new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: refresh.clientId,
      client_secret: refresh.clientSecret,
      refresh_token: refreshToken,
    });
    const response = await oauthHttp.send({ method: 'GET', label: 'oauth.token', path: path`/oauth/token/`, query: [...query] });
    const tokens = parseUpstreamBody(BitrixTokenResponse, response.body, { provider: BITRIX24, method: 'oauth.token', logger });
    logger.info('renewed the OAuth access token');
    return { token: tokens.access_token, refreshToken: tokens.refresh_token };
  };
  return async (_previous, latest) => {
    try {
      return await renewWith(latest ?? refresh.refreshToken);
    } catch (error) {
      const refused = error instanceof ProviderError && error.code === 'UNAUTHENTICATED';
      if (!refused || configuredSent) throw error;
      logger.warn('the stored refresh token was refused: trying the configured one');
      return renewWith(refresh.refreshToken);
    }
  };
}

/**
 * The portal's REST base (`https://<portal>/rest/`), where an access token goes with each call in `auth`:
 * for a portal reached through a webhook, the webhook URL's origin (its user id and secret left out).
 */
function restBase(access: PortalAccess): string {
  return access.kind === 'webhook' ? `${new URL(access.webhookUrl).origin}/rest/` : `${access.portalUrl.replace(/\/+$/, '')}/rest/`;
}

/** Bitrix serializes an empty map as `[]`. */
function asMap<V>(value: Record<string, V> | [] | undefined): Record<string, V> {
  return value === undefined || Array.isArray(value) ? {} : value;
}

/** What a failed answer says, as far as it says it in Bitrix24's shape (an HTML error page says nothing). */
function failureOf(response: UpstreamResponse): z.output<typeof BitrixFailure> {
  const parsed = BitrixFailure.safeParse(response.body);
  return parsed.success ? parsed.data : {};
}

/** Bitrix24's REST answers: what is final, what is worth another try, and how long to wait. */
export function classifyBitrixResponse(response: UpstreamResponse, oauth: boolean, clock: Clock = systemClock): Verdict {
  const { status } = response;
  const failure = failureOf(response);
  const error = failure.error;
  if (status === 200) return { kind: 'ok' };
  if (status === 401 && oauth && error === 'expired_token') return { kind: 'ok' }; // the portal renews it
  if (status === 401 || status === 403) return { kind: 'fail', code: 'UNAUTHENTICATED' };
  // The leaky bucket overflowed (Bitrix24 says so in the body): it drains at 2/s, so a short backoff is enough.
  // Any other 503 (a proxy's page in front of a portal that is down) is the portal being unavailable.
  if (error === 'QUERY_LIMIT_EXCEEDED') return { kind: 'retry', code: 'RATE_LIMITED' };
  if (status === 429 || error === 'OPERATION_TIME_LIMIT') {
    const resetAt = failure.time?.operating_reset_at;
    const waitMs = typeof resetAt === 'number' ? Math.max(0, resetAt * 1000 - clock.wallNow()) : undefined;
    return { kind: 'fail', code: 'RATE_LIMITED', waitMs };
  }
  if (status === 400) return { kind: 'fail', code: 'BAD_USER_INPUT' };
  if (status >= 500) return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE' };
  return { kind: 'fail', code: 'UPSTREAM_UNAVAILABLE' };
}

function classifyOAuthResponse(response: UpstreamResponse): Verdict {
  if (response.status === 200) return { kind: 'ok' };
  if (response.status >= 500) return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE' };
  return { kind: 'fail', code: 'UNAUTHENTICATED' }; // invalid_grant, invalid_client: the refresh token is no good
}

/** A `result_error` entry of one batch command, as the code every id of that command gets. */
export function codeForBitrixError(error: string): ErrorCode {
  switch (error) {
    case 'QUERY_LIMIT_EXCEEDED':
    case 'OPERATION_TIME_LIMIT':
      return 'RATE_LIMITED';
    case 'NO_AUTH_FOUND':
    case 'expired_token':
    case 'invalid_token':
    case 'insufficient_scope':
    case 'ACCESS_DENIED':
      return 'UNAUTHENTICATED';
    case 'INVALID_FORMAT':
      return 'BAD_USER_INPUT';
    default:
      return 'UPSTREAM_UNAVAILABLE';
  }
}
