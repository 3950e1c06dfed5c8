import type { Logger } from 'pino';
import type { z } from 'zod';
import { type Clock, systemClock } from '../../core/clock.js';
import type { RetryPolicy } from '../../core/settings.js';
import type { CallerCredential, FieldSet } from '../../core/types.js';
import { asCallerFailure } from '../../credentials/refused.js';
import type { Circuit } from '../../upstream/circuit.js';
import { type EncodedPath, header, path, UpstreamClient, type UpstreamResponse, type Verdict } from '../../upstream/http.js';
import type { RateBudget } from '../../upstream/rate-budget.js';
import { DEFAULT_RETRY_POLICY, parseResetEpochSeconds, parseRetryAfter } from '../../upstream/retry.js';
import { type SharedState, sharedState, type WindowCallBudget } from '../../upstream/shared-state.js';
import { parseUpstreamBody } from '../../upstream/wire-check.js';
import { X } from './id.js';
import { queryParameters } from './plan.js';
import { type XApiTweet, type XApiUser, type XLookupResponse, XTweetsResponse, XUsersResponse } from './wire.js';

export interface XClientOptions {
  baseUrl: string;
  bearerToken: string;
  connections: number;
  timeoutMs: number;
  retry?: RetryPolicy;
  logger: Logger;
  clock?: Clock;
  circuit?: Circuit;
  /** Where X's rate budget is kept: with Redis, one for every replica (one replica's 429 stops them all until the reset). */
  budgets?: RateBudget;
  /** Where each endpoint's window budget is kept, which the budget planner spends (with Redis, one for every replica). */
  shared?: Pick<SharedState, 'windowBudget'>;
}

/**
 * X's windows as it documents them, assumed until its first answer says (`x-rate-limit-*`): 300 calls per
 * 15 minutes per app, 900 per user token, for each endpoint (docs/upstream-budget.md).
 */
const WINDOW_MS = 15 * 60 * 1000;
const APP_CALLS = 300;
const USER_CALLS = 900;

/**
 * X API v2 lookups: `GET /2/users`, `/2/users/by` and `/2/tweets`, each one HTTP request for up to
 * 100 ids, asking for exactly the fields of the lookup's field set.
 */
export class XClient {
  private readonly http: UpstreamClient;
  private readonly authorization: string;
  private readonly logger: Logger;
  private readonly shared: Pick<SharedState, 'windowBudget'>;

  constructor(options: XClientOptions) {
    this.authorization = `Bearer ${options.bearerToken}`;
    this.logger = options.logger;
    this.shared =
      options.shared ??
      sharedState(
        undefined,
        { timeoutMs: options.timeoutMs, retry: options.retry ?? DEFAULT_RETRY_POLICY },
        options.clock ?? systemClock,
        options.logger,
      );
    this.http = new UpstreamClient({
      provider: X,
      baseUrl: options.baseUrl,
      connections: options.connections,
      timeoutMs: options.timeoutMs,
      retry: options.retry,
      logger: options.logger,
      classify: classifyXResponse,
      budget: readXBudget,
      windowOf: (label, scope) => this.budgetOf(label, scope),
      ...(options.budgets === undefined ? {} : { budgets: options.budgets }),
      clock: options.clock,
      circuit: options.circuit,
      // 100 users with every field and their expanded posts stay well under 1 MiB.
      maxBodyBytes: 4 * 1024 * 1024,
    });
  }

  /*
   * Each lookup is made with the app's bearer token, or with `credential`, a caller's own OAuth 2
   * user-context token (docs/access-control.md, "Per-caller credentials"): then as that user, under its scope.
   */

  usersByIds(
    ids: readonly string[],
    fields: FieldSet,
    signal?: AbortSignal,
    credential?: CallerCredential,
  ): Promise<XLookupResponse<XApiUser>> {
    return this.lookup('GET /2/users', path`/2/users`, 'ids', ids, fields, XUsersResponse, signal, credential);
  }

  usersByUsernames(
    usernames: readonly string[],
    fields: FieldSet,
    signal?: AbortSignal,
    credential?: CallerCredential,
  ): Promise<XLookupResponse<XApiUser>> {
    return this.lookup('GET /2/users/by', path`/2/users/by`, 'usernames', usernames, fields, XUsersResponse, signal, credential);
  }

  tweetsByIds(
    ids: readonly string[],
    fields: FieldSet,
    signal?: AbortSignal,
    credential?: CallerCredential,
  ): Promise<XLookupResponse<XApiTweet>> {
    return this.lookup('GET /2/tweets', path`/2/tweets`, 'ids', ids, fields, XTweetsResponse, signal, credential);
  }

  private async lookup<S extends z.ZodType>(
    label: string,
    endpoint: EncodedPath,
    listParam: 'ids' | 'usernames',
    keys: readonly string[],
    fields: FieldSet,
    schema: S,
    signal: AbortSignal | undefined,
    credential: CallerCredential | undefined,
  ): Promise<z.output<S>> {
    let response: UpstreamResponse;
    try {
      response = await this.http.send(
        {
          method: 'GET',
          label,
          path: endpoint,
          ids: keys.length,
          query: [[listParam, keys.join(',')], ...queryParameters(fields)],
          headers: {
            authorization: credential === undefined ? this.authorization : `Bearer ${credential.token}`,
            accept: 'application/json',
          },
          // X counts a user token's calls apart from the app's: so is its budget kept.
          scope: credential?.scope ?? '',
        },
        signal,
      );
    } catch (error) {
      // The caller's token refused is the caller's to renew; the app's token is never tried instead.
      throw credential === undefined ? error : asCallerFailure(X, error);
    }
    return parseUpstreamBody(schema, response.body, { provider: X, method: label, logger: this.logger });
  }

  /** The window budget of one endpoint (`label`) under a credential scope: what the budget planner spends. */
  budgetOf(label: string, scope: string): WindowCallBudget {
    return this.shared.windowBudget(
      { provider: X.name, scope, label },
      { limit: scope === '' ? APP_CALLS : USER_CALLS, windowMs: WINDOW_MS },
    );
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

/** How X says "wait": `x-rate-limit-reset` on a 429, else a `Retry-After` if one came. */
function xWaitMs(response: UpstreamResponse, now: number): number | undefined {
  return parseResetEpochSeconds(header(response, 'x-rate-limit-reset'), now) ?? parseRetryAfter(header(response, 'retry-after'), now);
}

export function classifyXResponse(response: UpstreamResponse, clock: Clock = systemClock): Verdict {
  const { status } = response;
  if (status === 200) return { kind: 'ok' };
  if (status === 429) return { kind: 'retry', code: 'RATE_LIMITED', waitMs: xWaitMs(response, clock.wallNow()) };
  if (status === 401 || status === 403) return { kind: 'fail', code: 'UNAUTHENTICATED' };
  if (status >= 500)
    return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', waitMs: parseRetryAfter(header(response, 'retry-after'), clock.wallNow()) };
  // A 400 means X refused parameters this subgraph validated; trying again would not change that.
  if (status === 400) return { kind: 'fail', code: 'BAD_USER_INPUT' };
  return { kind: 'fail', code: 'UPSTREAM_UNAVAILABLE' };
}

function readXBudget(response: UpstreamResponse, clock: Clock): { remaining: number; resetInMs: number; limit?: number } | undefined {
  const remaining = header(response, 'x-rate-limit-remaining');
  const resetInMs = parseResetEpochSeconds(header(response, 'x-rate-limit-reset'), clock.wallNow());
  if (remaining === undefined || resetInMs === undefined || !/^\d+$/.test(remaining)) return undefined;
  const limit = header(response, 'x-rate-limit-limit');
  return { remaining: Number(remaining), resetInMs, ...(limit !== undefined && /^\d+$/.test(limit) ? { limit: Number(limit) } : {}) };
}
