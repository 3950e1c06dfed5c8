import type { Logger } from 'pino';
import { type Clock, systemClock } from '../../core/clock.js';
import { ProviderError } from '../../core/errors.js';
import type { UpstreamSettings } from '../../core/settings.js';
import { PacedBudget } from '../../upstream/call-budget.js';
import type { Circuits } from '../../upstream/circuit.js';
import { type EncodedPath, header, path, UpstreamClient, type UpstreamResponse, type Verdict } from '../../upstream/http.js';
import type { PaceRule } from '../../upstream/pacing.js';
import { parseRetryAfter } from '../../upstream/retry.js';
import { type SharedState, sharedState } from '../../upstream/shared-state.js';
import { type SharedToken, sendWithToken } from '../../upstream/shared-token.js';
import { parseUpstreamBody } from '../../upstream/wire-check.js';
import type { NexudusConfig } from './config.js';
import { NEXUDUS } from './id.js';
import { nexudusAccount, STORED_TOKEN_LIFETIME_MS } from './sharing.js';
import { nexudusToken } from './token.js';
import { NexudusUserList, NexudusUserRecord } from './wire.js';

/**
 * Nexudus's documented limits per account: 1 request per 100 ms, 120 a minute, 5,000 an hour. Every
 * request to the account is paced under them, the token call included, counted as the pacer counts
 * (see `RulePacer`): so the subgraph never provokes a 409 from an upstream that keeps to them.
 */
export const NEXUDUS_PACE: readonly PaceRule[] = [
  { kind: 'window', count: 1, windowMs: 100 },
  { kind: 'window', count: 120, windowMs: 60_000 },
  { kind: 'window', count: 5_000, windowMs: 3_600_000 },
];

export interface NexudusClientOptions {
  config: NexudusConfig;
  upstream: UpstreamSettings;
  logger: Logger;
  clock?: Clock;
  circuits?: Circuits;
  /** What replicas share: the account's pacing and token (`sharing.ts`); this process alone unless given. */
  shared?: SharedState;
}

/**
 * The two Nexudus user lookups: the batch list (`GET /api/sys/users/?id=[..]`, partial records) and
 * the full record (`GET /api/sys/users/{id}`), paced per account, with the account's shared token.
 */
export class NexudusClient {
  /** What the budget planner asks before a call to the account goes. */
  readonly budget: PacedBudget;
  readonly maxIdsPerCall: number;
  readonly fullRecordConcurrency: number;
  readonly maxFullRecordsPerOperation: number;
  private readonly http: UpstreamClient;
  private readonly tokenHttp: UpstreamClient;
  private readonly token: SharedToken;
  private readonly logger: Logger;

  constructor({
    config,
    upstream,
    logger,
    clock = systemClock,
    circuits,
    shared = sharedState(undefined, upstream, clock, logger),
  }: NexudusClientOptions) {
    const { timeoutMs, connections, retry } = upstream;
    // One pacer for every request to the account, the token call included (with Redis, every replica's).
    const account = nexudusAccount(config.baseUrl, config.credentials);
    const pacer = shared.pacer(account, NEXUDUS_PACE);
    // The account's pace is its budget: a list call that is not full waits to fill while the pacer would make it wait.
    this.budget = new PacedBudget(() => pacer.readyInMs());
    this.logger = logger;
    this.maxIdsPerCall = config.maxIdsPerCall;
    this.fullRecordConcurrency = config.fullRecordConcurrency;
    this.maxFullRecordsPerOperation = config.maxFullRecordsPerOperation;
    const common = { provider: NEXUDUS, baseUrl: config.baseUrl, timeoutMs, retry, logger, pacer, clock };
    // 100 partial records, or one full one, are a few hundred KiB at most.
    this.http = new UpstreamClient({
      ...common,
      connections,
      classify: classifyNexudusResponse,
      circuit: circuits?.create(NEXUDUS),
      maxBodyBytes: 4 * 1024 * 1024,
    });
    this.tokenHttp = new UpstreamClient({
      ...common,
      connections: 2,
      classify: classifyTokenResponse,
      circuit: circuits?.create(NEXUDUS, 'token'),
      maxBodyBytes: 64 * 1024,
    });
    const { credentials } = config;
    const replicas =
      credentials.kind === 'password'
        ? shared.tokens({ account, secret: credentials.password, purpose: `nexudus ${account}`, ttlMs: STORED_TOKEN_LIFETIME_MS })
        : undefined;
    this.token = nexudusToken(config.credentials, this.tokenHttp, logger, clock, replicas);
  }

  /** One list call: the (partial) records of those ids Nexudus knows; unknown ids are simply absent. */
  async partialUsers(ids: readonly number[], signal?: AbortSignal): Promise<NexudusUserRecord[]> {
    const response = await this.get('GET /api/sys/users/', path`/api/sys/users/`, ids.length, signal, [['id', `[${ids.join(',')}]`]]);
    return parseUpstreamBody(NexudusUserList, response.body, { provider: NEXUDUS, method: 'GET /api/sys/users/', logger: this.logger });
  }

  /** One full record, or `undefined` when Nexudus has no such user. */
  async fullUser(id: number, signal?: AbortSignal): Promise<NexudusUserRecord | undefined> {
    const response = await this.get('GET /api/sys/users/{id}', path`/api/sys/users/${id}`, 1, signal);
    if (response.status === 404) return undefined;
    const user = parseUpstreamBody(NexudusUserRecord, response.body, {
      provider: NEXUDUS,
      method: 'GET /api/sys/users/{id}',
      logger: this.logger,
    });
    // Another user's record under this id would be served as this one: it is not an answer.
    if (user.Id !== id) {
      this.logger.warn({ method: 'GET /api/sys/users/{id}' }, 'upstream answered a record of another id');
      throw new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider: NEXUDUS });
    }
    return user;
  }

  private get(
    label: string,
    at: EncodedPath,
    ids: number,
    signal: AbortSignal | undefined,
    query?: Array<[string, string]>,
  ): Promise<UpstreamResponse> {
    return sendWithToken(
      this.token,
      (token) =>
        this.http.send(
          { method: 'GET', label, path: at, ids, query, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } },
          signal,
        ),
      (response) => response.status === 401,
    );
  }

  async close(): Promise<void> {
    await Promise.all([this.http.close(), this.tokenHttp.close()]);
  }
}

export function classifyNexudusResponse(response: UpstreamResponse): Verdict {
  const { status } = response;
  if (status === 200 || status === 404 || status === 401) return { kind: 'ok' }; // 404: no such user; 401: the client renews
  // Nexudus throttles with 409 (not 429) and an empty body.
  if (status === 409 || status === 429)
    return { kind: 'retry', code: 'RATE_LIMITED', waitMs: parseRetryAfter(header(response, 'retry-after')) };
  if (status === 403) return { kind: 'fail', code: 'UNAUTHENTICATED' }; // the account lacks the User-Read role
  if (status === 400) return { kind: 'fail', code: 'BAD_USER_INPUT' };
  if (status >= 500) return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', waitMs: parseRetryAfter(header(response, 'retry-after')) };
  return { kind: 'fail', code: 'UPSTREAM_UNAVAILABLE' };
}

function classifyTokenResponse(response: UpstreamResponse): Verdict {
  if (response.status === 200) return { kind: 'ok' };
  if (response.status >= 500 || response.status === 409)
    return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', waitMs: parseRetryAfter(header(response, 'retry-after')) };
  return { kind: 'fail', code: 'UNAUTHENTICATED' }; // invalid_grant: wrong username or password
}
