import type { Logger } from 'pino';
import { ProviderError } from '../../upstream/errors.js';
import { UpstreamClient, header, type UpstreamResponse, type Verdict } from '../../upstream/http.js';
import { parseResetEpochSeconds, parseRetryAfter, type RetryPolicy } from '../../upstream/retry.js';
import type { XFieldPlan } from './plan.js';
import type { XApiTweet, XApiUser, XLookupResponse } from './wire.js';

export interface XClientOptions {
  baseUrl: string;
  bearerToken: string;
  connections: number;
  timeoutMs: number;
  retry?: RetryPolicy;
  logger: Logger;
}

/**
 * X API v2 lookups: `GET /2/users`, `/2/users/by` and `/2/tweets`, each one HTTP request for up to
 * 100 validated ids, asking for exactly the fields in the plan.
 */
export class XClient {
  private readonly http: UpstreamClient;
  private readonly authorization: string;

  constructor(options: XClientOptions) {
    this.authorization = `Bearer ${options.bearerToken}`;
    this.http = new UpstreamClient({
      provider: 'x',
      baseUrl: options.baseUrl,
      connections: options.connections,
      timeoutMs: options.timeoutMs,
      retry: options.retry,
      logger: options.logger,
      classify: classifyXResponse,
      budget: readXBudget,
    });
  }

  usersByIds(ids: readonly string[], plan: XFieldPlan): Promise<XLookupResponse<XApiUser>> {
    return this.get('GET /2/users', '/2/users', userQuery('ids', ids, plan));
  }

  usersByUsernames(usernames: readonly string[], plan: XFieldPlan): Promise<XLookupResponse<XApiUser>> {
    return this.get('GET /2/users/by', '/2/users/by', userQuery('usernames', usernames, plan));
  }

  tweetsByIds(ids: readonly string[], plan: XFieldPlan): Promise<XLookupResponse<XApiTweet>> {
    const query = [`ids=${ids.join(',')}`];
    if (plan.tweetFields.length > 0) query.push(`tweet.fields=${plan.tweetFields.join(',')}`);
    if (plan.expandTweetAuthor) {
      query.push('expansions=author_id');
      if (plan.userFields.length > 0) query.push(`user.fields=${plan.userFields.join(',')}`);
    }
    return this.get('GET /2/tweets', '/2/tweets', query);
  }

  private async get<T>(label: string, path: string, query: string[]): Promise<XLookupResponse<T>> {
    // Every value in `query` was validated against X's patterns (digits, [A-Za-z0-9_], field enums),
    // so nothing needs escaping and the commas stay readable in logs of the upstream.
    const response = await this.http.send({
      method: 'GET',
      label,
      path: `${path}?${query.join('&')}`,
      headers: { authorization: this.authorization, accept: 'application/json' },
    });
    const body = response.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider: 'x' });
    }
    return body as XLookupResponse<T>;
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

function userQuery(param: 'ids' | 'usernames', values: readonly string[], plan: XFieldPlan): string[] {
  const query = [`${param}=${values.join(',')}`];
  if (plan.userFields.length > 0) query.push(`user.fields=${plan.userFields.join(',')}`);
  if (plan.userExpansions.length > 0) {
    query.push(`expansions=${plan.userExpansions.join(',')}`);
    if (plan.tweetFields.length > 0) query.push(`tweet.fields=${plan.tweetFields.join(',')}`);
  }
  return query;
}

/** How X says "wait": `x-rate-limit-reset` on a 429, else a `Retry-After` if one came. */
function xWaitMs(response: UpstreamResponse): number | undefined {
  return parseResetEpochSeconds(header(response, 'x-rate-limit-reset')) ?? parseRetryAfter(header(response, 'retry-after'));
}

export function classifyXResponse(response: UpstreamResponse): Verdict {
  const { status } = response;
  if (status === 200) return { kind: 'ok' };
  if (status === 429) return { kind: 'retry', code: 'RATE_LIMITED', waitMs: xWaitMs(response) };
  if (status === 401 || status === 403) return { kind: 'fail', code: 'UNAUTHENTICATED' };
  if (status >= 500) return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', waitMs: parseRetryAfter(header(response, 'retry-after')) };
  // A 400 means X refused parameters this subgraph validated; trying again would not change that.
  if (status === 400) return { kind: 'fail', code: 'BAD_USER_INPUT' };
  return { kind: 'fail', code: 'UPSTREAM_UNAVAILABLE' };
}

function readXBudget(response: UpstreamResponse): { remaining: number; resetInMs: number } | undefined {
  const remaining = header(response, 'x-rate-limit-remaining');
  const resetInMs = parseResetEpochSeconds(header(response, 'x-rate-limit-reset'));
  if (remaining === undefined || resetInMs === undefined || !/^\d+$/.test(remaining)) return undefined;
  return { remaining: Number(remaining), resetInMs };
}
