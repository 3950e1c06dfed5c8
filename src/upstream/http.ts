import type { Logger } from 'pino';
import { type Dispatcher, Pool } from 'undici';
import { type Clock, systemClock } from '../core/clock.js';
import { abandoned, ProviderError } from '../core/errors.js';
import type { RetryPolicy } from '../core/settings.js';
import type { ProviderId } from '../core/types.js';
import { countUpstreamRequest, upstreamDuration } from '../telemetry/metrics.js';
import { upstreamAttemptObserver, upstreamLogger } from '../telemetry/operation.js';
import { type AttemptStatus, traceUpstreamCall } from '../telemetry/tracing.js';
import { callWithRetries, type Failure } from './call-with-retries.js';
import type { Circuit } from './circuit.js';
import type { Pacer, Permit } from './pacing.js';
import { MemoryRateBudget, type RateBudget, type RateBudgetKey } from './rate-budget.js';
import { DEFAULT_RETRY_POLICY } from './retry.js';

/**
 * The one HTTP path to every upstream: a pooled keep-alive connection set per upstream origin, a
 * deadline per attempt, retries that honour the upstream's rate-limit signals, a metric per request
 * sent, and failures turned into `ProviderError`s with a code.
 *
 * Secrets never leave this module in anything observable: logs and metrics name a request by its
 * `label` (a method template such as `GET /2/users`), never by its URL, headers or body, and errors
 * carry only a code. The URL may itself be a secret (an incoming webhook's is).
 */

/**
 * A request path whose every interpolated value was percent-encoded: made only by the `path` tag, so
 * an id can never add a segment or a query of its own.
 */
export type EncodedPath = string & { readonly __encoded: unique symbol };

/** `path\`/api/sys/users/${id}\`` encodes each interpolated value as one path segment. */
export function path(strings: TemplateStringsArray, ...values: Array<string | number>): EncodedPath {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += encodeURIComponent(String(value)) + (strings[i + 1] ?? '');
  });
  return out as EncodedPath;
}

export interface UpstreamRequest {
  method: 'GET' | 'POST';
  /** How logs, metrics and traces name this call; must not contain ids or secrets. */
  label: string;
  /** How many ids the request asks for, for its span (docs/operations.md, "Tracing and logs"); the ids themselves are never recorded. */
  ids?: number;
  /** Appended to the base URL's path. */
  path: EncodedPath;
  /** Query parameters, encoded here (`URLSearchParams`), never concatenated by a caller. */
  query?: ReadonlyArray<readonly [string, string]>;
  headers?: Record<string, string>;
  body?: string;
  /**
   * The credential scope the request is sent under: '' (or absent) for the server's own credentials,
   * else the one-way hash of the caller's (`CallerCredential.scope`). Rate budgets are kept per scope.
   */
  scope?: string;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body, or `undefined` when the body is empty or not JSON. */
  body: unknown;
}

/** What a provider makes of a response: ok, or a failure that is worth retrying or final. */
export type Verdict = { kind: 'ok' } | Failure;

export interface UpstreamClientOptions {
  provider: ProviderId;
  baseUrl: string;
  /** Most open connections to this upstream. */
  connections: number;
  /** Deadline of one attempt, headers and body included. */
  timeoutMs: number;
  retry?: RetryPolicy;
  logger: Logger;
  /**
   * The provider's reading of a response: success, or which failure and whether to retry. `clock`
   * turns an absolute time the upstream states (an epoch reset) into a wait: `clock.wallNow()`.
   */
  classify(response: UpstreamResponse, clock: Clock): Verdict;
  /**
   * The upstream's rate-limit budget as this response states it, if it states one. When it says
   * nothing is left, calls with the same label (and credential scope) fail fast until the reset
   * instead of spending a 429.
   */
  budget?(response: UpstreamResponse, clock: Clock): { remaining: number; resetInMs: number; limit?: number } | undefined;
  /**
   * The window budget of a label under a credential scope, which the budget planner takes permits of
   * (`call-budget.ts`): what `budget` reads of each answer is noted there too.
   */
  windowOf?(
    label: string,
    scope: string,
  ): { note(reading: { remaining: number; resetInMs: number; limit?: number }): void | Promise<void> };
  /**
   * Where what `budget` reads is kept: this process's memory on `clock` unless given (a Redis-backed
   * store shares it with every replica, `rate-budget.ts`).
   */
  budgets?: RateBudget;
  /** Client-side pacing, shared by every client of the same upstream account: each attempt holds a permit. */
  pacer?: Pacer;
  random?: () => number;
  /** The circuit breaker of this upstream scope; calls go straight through without one. */
  circuit?: Circuit;
  /** The largest body this upstream's answers may have; a larger one is UPSTREAM_UNAVAILABLE, unread. */
  maxBodyBytes?: number;
  /**
   * What waits between attempts and the fail-fast budget are timed on; the system clock unless a test
   * injects one. A request itself (its socket, its per-attempt deadline) always runs on real time.
   */
  clock?: Clock;
}

export class UpstreamClient {
  readonly provider: ProviderId;
  private readonly pool: Pool;
  private readonly basePath: string;
  /** The upstream's host, for spans: never its path, which may be a secret (a Bitrix24 webhook's). */
  private readonly host: string;
  private readonly retry: RetryPolicy;
  private readonly clock: Clock;
  /** Per scope and label: when the upstream has told us not to call before. */
  private readonly budgets: RateBudget;

  constructor(private readonly options: UpstreamClientOptions) {
    this.provider = options.provider;
    const base = new URL(options.baseUrl);
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.host = base.hostname;
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.clock = options.clock ?? systemClock;
    this.budgets = options.budgets ?? new MemoryRateBudget(this.clock);
    this.pool = new Pool(base.origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
  }

  /**
   * Sends `request`, retrying as the policy allows; resolves with a response the provider called ok.
   * `signal` is the caller's: once it is aborted the call is dropped wherever it is (waiting for the
   * pacer, between attempts, or on the wire) and fails as `abandoned` says.
   */
  send(request: UpstreamRequest, signal?: AbortSignal): Promise<UpstreamResponse> {
    const { provider } = this.options;
    // One span per call (its attempts an attribute), and each request sent told to the operations waiting on it.
    const info = { provider: provider.name, method: request.label, ids: request.ids, host: this.host, httpMethod: request.method };
    return traceUpstreamCall(info, upstreamAttemptObserver(signal, provider.name), (sent) => this.sendCall(request, signal, sent));
  }

  private sendCall(
    request: UpstreamRequest,
    signal: AbortSignal | undefined,
    sent: (status: AttemptStatus) => void,
  ): Promise<UpstreamResponse> {
    const { provider, random, circuit } = this.options;
    // Retries and refusals name the operations waiting for this call (docs/operations.md, "Tracing and logs").
    const logger = upstreamLogger(signal, this.options.logger);
    const { clock } = this;
    const call = () =>
      callWithRetries({ provider, label: request.label, policy: this.retry, logger, random, clock, signal }, async () => {
        await this.failIfBlocked(request);
        let permit: Permit | undefined;
        try {
          permit = await this.options.pacer?.acquire(signal);
        } catch {
          throw abandoned(provider, signal!);
        }
        let outcome: Awaited<ReturnType<UpstreamClient['attempt']>> | undefined;
        try {
          outcome = await this.attempt(request, signal, sent, logger);
        } finally {
          if (outcome !== undefined && 'response' in outcome) permit?.release();
          // No answer (cut off, timed out, reset): the request may still reach the upstream after this, and
          // the pacer counts it at its arrival, so it stays in flight a while longer.
          else if (permit !== undefined) clock.setTimer(() => permit.release(), UNANSWERED_HOLD_MS);
        }
        if ('failure' in outcome) return { ok: false, failure: outcome.failure };
        const verdict = this.options.classify(outcome.response, clock);
        return verdict.kind === 'ok' ? { ok: true, value: outcome.response } : { ok: false, failure: verdict };
      });
    return circuit === undefined ? call() : circuit.run(call);
  }

  private async attempt(
    request: UpstreamRequest,
    signal: AbortSignal | undefined,
    sent: (status: AttemptStatus) => void,
    logger: Logger,
  ): Promise<{ response: UpstreamResponse } | { failure: Failure }> {
    const { provider } = this.options;
    const count = (status: AttemptStatus) => {
      countUpstreamRequest(provider, request.label, status);
      sent(status);
    };
    const started = performance.now();
    // The attempt ends at its deadline or when the caller gives up, whichever comes first. A timer cleared
    // when the attempt is over, not AbortSignal.timeout/any: those live until their deadline (seconds) and
    // are tracked through weak references that scavenges keep alive, so at a thousand calls a second they
    // were promoted to the old generation and made every scavenge long (the p99 of the benchmark).
    const attempt = new AbortController();
    const deadline = setTimeout(() => attempt.abort(new DOMException('the attempt timed out', 'TimeoutError')), this.options.timeoutMs);
    const giveUp = () => attempt.abort();
    signal?.addEventListener('abort', giveUp, { once: true });
    try {
      const res = await this.pool.request({
        method: request.method,
        path: this.basePath + request.path + queryString(request.query),
        headers: request.headers,
        body: request.body,
        signal: attempt.signal,
      });
      const text = await readBody(res, this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
      count(res.statusCode);
      upstreamDuration.observe({ provider: provider.name, method: request.label }, (performance.now() - started) / 1000);
      if (text === undefined) {
        logger.warn(
          { method: request.label, status: res.statusCode, maxBodyBytes: this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES },
          'upstream body too large; not read',
        );
        return { failure: { kind: 'fail', code: 'UPSTREAM_UNAVAILABLE' } };
      }
      const response: UpstreamResponse = { status: res.statusCode, headers: res.headers, body: parseJson(text) };
      await this.noteBudget(request, response);
      return { response };
    } catch (error) {
      if (signal?.aborted) {
        // The caller gave up (deadline, client gone, shutdown): no retry, and the upstream may have seen it.
        count('aborted');
        throw abandoned(provider, signal);
      }
      // Connection refused or reset, or the attempt's deadline passed: the upstream is not answering.
      count('error');
      logger.debug({ method: request.label, reason: errorName(error) }, 'upstream request error');
      return { failure: { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE' } };
    } finally {
      clearTimeout(deadline);
      signal?.removeEventListener('abort', giveUp);
    }
  }

  /** Which budget a request spends: its provider's, under its credential scope, for its label. */
  private budgetKey(request: UpstreamRequest): RateBudgetKey {
    return { provider: this.provider.name, scope: request.scope ?? '', label: request.label };
  }

  /** Awaited before the response is handed on, so that the next call's check (here or on a replica) sees it. */
  private async noteBudget(request: UpstreamRequest, response: UpstreamResponse): Promise<void> {
    const budget = this.options.budget?.(response, this.clock);
    if (budget === undefined) return;
    await Promise.all([
      this.budgets.note(this.budgetKey(request), budget),
      this.options.windowOf?.(request.label, request.scope ?? '').note(budget),
    ]);
  }

  private async failIfBlocked(request: UpstreamRequest): Promise<void> {
    // An upstream whose answers state no budget (Bitrix24, Nexudus: they are paced instead) has none to check.
    if (this.options.budget === undefined) return;
    const waitMs = await this.budgets.blockedForMs(this.budgetKey(request));
    if (waitMs <= 0) return;
    throw new ProviderError({ code: 'RATE_LIMITED', provider: this.provider, retryAfter: Math.ceil(waitMs / 1000) });
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/**
 * How long a request that got no answer still counts as in flight for the pacer: longer than it can take
 * to reach an upstream once it has left (milliseconds on a network, an event-loop turn in process).
 */
export const UNANSWERED_HOLD_MS = 1_000;

/** A body larger than this is refused unread unless the provider says otherwise: no lookup answer comes near it. */
const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

/**
 * The body as text, or `undefined` when it is larger than `maxBytes`: then it is not read any further
 * (the connection is dropped), so an upstream cannot make this process hold a body of any size.
 */
async function readBody(res: Dispatcher.ResponseData, maxBytes: number): Promise<string | undefined> {
  const declared = Number(res.headers['content-length']);
  if (declared > maxBytes) {
    res.body.destroy();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      res.body.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8');
}

function queryString(query: UpstreamRequest['query']): string {
  if (query === undefined || query.length === 0) return '';
  return `?${new URLSearchParams(query as Array<[string, string]>).toString()}`;
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The kind of a transport error, for logs: its name and code, never its message (which may hold a URL). */
function errorName(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${error.name}:${code}` : error.name;
  }
  return 'unknown';
}

/** First value of a response header (undici gives arrays for repeated headers). */
export function header(response: UpstreamResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
