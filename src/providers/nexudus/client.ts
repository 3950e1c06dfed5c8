import type { Logger } from 'pino';
import { ProviderError } from '../../upstream/errors.js';
import { UpstreamClient, header, type UpstreamResponse, type Verdict } from '../../upstream/http.js';
import { LeakyBucket, type RateLimit } from '../../upstream/leaky-bucket.js';
import { parseRetryAfter, type RetryPolicy } from '../../upstream/retry.js';
import { sendWithToken, type SharedToken } from '../../upstream/shared-token.js';
import { nexudusToken, type NexudusCredentials } from './token.js';
import type { NexudusApiUser } from './wire.js';

/**
 * Nexudus's limits per account (upstreams.md): 1 request per 100 ms, 120 a minute, 5,000 an hour. The
 * buckets below keep the client under them: 125 ms apart, because two requests sent 100 ms apart can
 * arrive closer than that; the minute and hour buckets allow a short burst, so a 409 can still happen
 * under sustained load, and it is retried after its `Retry-After`.
 */
export const NEXUDUS_RATE_LIMITS: readonly RateLimit[] = [
  { perSecond: 8, burst: 1 },
  { perSecond: 2, burst: 10 },
  { perSecond: 5000 / 3600, burst: 60 },
];

export interface NexudusClientOptions {
  baseUrl: string;
  credentials: NexudusCredentials;
  connections: number;
  timeoutMs: number;
  retry: RetryPolicy;
  logger: Logger;
  /** Ids per list call. */
  maxIdsPerCall: number;
  /** Single-record calls in flight at once. */
  fullRecordConcurrency: number;
}

/**
 * The two Nexudus user lookups: the batch list (`GET /api/sys/users/?id=[..]`, partial records) and
 * the full record (`GET /api/sys/users/{id}`), paced per account, with the account's shared token.
 */
export class NexudusClient {
  readonly maxIdsPerCall: number;
  readonly fullRecordConcurrency: number;
  private readonly http: UpstreamClient;
  private readonly tokenHttp: UpstreamClient;
  private readonly token: SharedToken;

  constructor(options: NexudusClientOptions) {
    const { baseUrl, connections, timeoutMs, retry, logger } = options;
    this.maxIdsPerCall = options.maxIdsPerCall;
    this.fullRecordConcurrency = options.fullRecordConcurrency;
    const common = { provider: 'nexudus' as const, baseUrl, timeoutMs, retry, logger };
    this.http = new UpstreamClient({ ...common, connections, classify: classifyNexudusResponse, pacer: new LeakyBucket(NEXUDUS_RATE_LIMITS) });
    this.tokenHttp = new UpstreamClient({ ...common, connections: 2, classify: classifyTokenResponse });
    this.token = nexudusToken(options.credentials, this.tokenHttp);
  }

  /** One list call: the (partial) records of those ids Nexudus knows; unknown ids are simply absent. */
  async list(ids: readonly number[]): Promise<NexudusApiUser[]> {
    const response = await this.get('GET /api/sys/users/', `/api/sys/users/?id=[${ids.join(',')}]`);
    if (!Array.isArray(response.body)) throw new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider: 'nexudus' });
    return response.body as NexudusApiUser[];
  }

  /** One full record, or `undefined` when Nexudus has no such user. */
  async one(id: number): Promise<NexudusApiUser | undefined> {
    const response = await this.get('GET /api/sys/users/{id}', `/api/sys/users/${id}`);
    if (response.status === 404) return undefined;
    if (typeof response.body !== 'object' || response.body === null) throw new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider: 'nexudus' });
    return response.body as NexudusApiUser;
  }

  private get(label: string, path: string): Promise<UpstreamResponse> {
    return sendWithToken(
      this.token,
      (token) => this.http.send({ method: 'GET', label, path, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }),
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
  if (status === 409 || status === 429) return { kind: 'retry', code: 'RATE_LIMITED', waitMs: parseRetryAfter(header(response, 'retry-after')) };
  if (status === 403) return { kind: 'fail', code: 'UNAUTHENTICATED' }; // the account lacks the User-Read role
  if (status === 400) return { kind: 'fail', code: 'BAD_USER_INPUT' };
  if (status >= 500) return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', waitMs: parseRetryAfter(header(response, 'retry-after')) };
  return { kind: 'fail', code: 'UPSTREAM_UNAVAILABLE' };
}

function classifyTokenResponse(response: UpstreamResponse): Verdict {
  if (response.status === 200) return { kind: 'ok' };
  if (response.status >= 500 || response.status === 409) return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', waitMs: parseRetryAfter(header(response, 'retry-after')) };
  return { kind: 'fail', code: 'UNAUTHENTICATED' }; // invalid_grant: wrong username or password
}
