/**
 * A real HTTP server that speaks the three X API v2 lookups this subgraph uses
 * (`GET /2/users`, `/2/users/by`, `/2/tweets`) over the deterministic demo data.
 *
 * It mimics what a client must cope with on the real API: bearer auth (the app's token, or OAuth 2
 * user-context tokens, each acting as one user), X's 400 "invalid request" problems, partial 200s with
 * `errors`, results that are NOT in request order, per-endpoint rate-limit headers and 429s (a fixed
 * window per endpoint path and per user token, like X's 15-minute windows), what a user may not see
 * (a protected account's posts, `not-authorized-for-resource`), plus injectable faults (any status with
 * X's own body, and the shared `HttpFault`s: resets, truncated or HTML or oversize bodies, slow answers)
 * and latency.
 *
 * Order of checks per request: injected fault → route (404) → auth (401, costs no budget)
 * → rate limit (429, else one unit is spent) → validation (400, already paid for, as on X) → 200.
 * An injected `status`, `html` or `oversize` fault answers instead of all of it; `slow`, `reset` and
 * `truncated-json` break the answer the request gets after every check.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type EmulatorClock, systemEmulatorClock } from '../../../emulators/clock.js';
import { FaultQueue, type HttpFault } from '../../../emulators/fault-queue.js';
import { type FixedWindow, FixedWindows } from '../../../emulators/fixed-window.js';
import { startLoopbackServer } from '../../../emulators/loopback-server.js';
import type { HttpEmulatorOptions } from '../../../emulators/options.js';
import { faultReply, jsonReply, type Reply, ReplySender } from '../../../emulators/reply.js';
import { RequestLog } from '../../../emulators/request-log.js';
import { splitRequestUrl } from '../../../emulators/request-url.js';
import {
  isXId,
  X_MAX_IDS_PER_CALL,
  X_TWEET_FIELDS,
  X_USER_EXPANSIONS,
  X_USER_FIELDS,
  X_USERNAME_PATTERN,
  type XApiTweet,
  type XApiUser,
  type XLookupResponse,
  type XProblem,
} from '../wire.js';
import { DEMO_MAX_ID, demoUserIdForUsername, demoXTweet, demoXUser, parseDemoUserId } from './demo-data.js';

export interface XEmulatorOptions extends HttpEmulatorOptions {
  /** Requests without `Authorization: Bearer <this>` get 401. */
  bearerToken: string;
  /** Users `1..maxKnownId` exist. Default DEMO_MAX_ID. */
  maxKnownId?: number;
  /** User ids that answer as suspended (`"title":"Forbidden"`). */
  suspendedIds?: Iterable<string>;
  /** Budget per endpoint path. Default 300 requests per 900 s. */
  rateLimit?: { limit: number; windowSeconds: number };
  /**
   * Serve a repeated 200 lookup from a cache of response bodies (default false). The data is
   * deterministic, so the answer is the same; it makes the emulator the "fast local fake" a
   * benchmark compares against, instead of a measure of this emulator's JSON building.
   */
  memoizeBodies?: boolean;
  /**
   * OAuth 2.0 user-context tokens accepted besides the app's bearer token, each acting as one X user: X
   * counts each user's calls in rate-limit windows of their own, apart from the app's and from each
   * other's, and shows each user what that user may see (see `protectedPosts`).
   */
  userTokens?: readonly XUserToken[];
  /**
   * Who sees the posts of protected accounts (the demo's protected users: ids divisible by 17):
   * `followers`, as on X (a user token that follows the account; never the app alone, which answers
   * X's "not authorized" problem instead), or `everyone` (the default: the demo's data stays whole for
   * what is not about visibility).
   */
  protectedPosts?: 'everyone' | 'followers';
}

/** A user-context token the emulator accepts, and the user it acts as. */
export interface XUserToken {
  /** How the request log names the user (never the token). */
  name: string;
  token: string;
  /** Ids of the accounts the user follows: it sees their posts even when they are protected. */
  follows?: Iterable<string>;
}

export interface XEmulatorRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Who the request authenticated as: `app`, a user token's `name`, or `''` when its token is neither. */
  principal: string;
  /** HTTP status sent back; 0 while the response is still pending (e.g. during `latencyMs`) or never sent. */
  status: number;
}

export interface XEmulator {
  /** e.g. http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  /** Every request received, in arrival order (including 401/400/404/429/5xx). */
  requests: XEmulatorRequest[];
  /** Clears `requests`, the rate-limit counters and injected faults. */
  reset(): void;
  /**
   * Forces the budget of one endpoint path (e.g. `/2/users`) for the current window (epoch seconds on the
   * emulator's clock): the app's, or with `user` the window of that user token's calls.
   */
  setRemaining(endpointPath: string, remaining: number, resetEpochSeconds?: number, user?: string): void;
  /** The next `count` requests (whatever they are) answer `status` with X's generic problem body. */
  failNext(count: number, status: 500 | 502 | 503 | 504, headers?: Record<string, string>): void;
  /**
   * The next `count` requests (whatever they are) get `fault`. A `status` fault answers X's own body for
   * it: 401 Unauthorized, 429 Too Many Requests (send X's `x-rate-limit-*` headers in `headers`), or the
   * generic problem of any other status.
   */
  failNext(count: number, fault: HttpFault): void;
  /** The injected faults themselves, for faults on one route (a path: `/2/users`, `/2/users/by`, `/2/tweets`) or standing ones. */
  readonly faults: FaultQueue<HttpFault>;
  /** Holds every answer back until the returned function is called (requests are still received and logged). */
  holdReplies(): () => void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Endpoint table: which query parameters each path accepts and with which values.

/** `expansions` the emulator accepts on `GET /2/tweets`: the one this subgraph uses. */
export const X_TWEET_EXPANSIONS = ['author_id'] as const;

type ListParam = 'ids' | 'usernames';
type Resource = 'user' | 'tweet';

interface EndpointSpec {
  listParam: ListParam;
  itemValid: (item: string) => boolean;
  resource: Resource;
  /** Enum-valued parameters; a Map so that names like `__proto__` can't hit Object.prototype. */
  enums: ReadonlyMap<string, ReadonlySet<string>>;
  /** Accepted parameter names in the order X lists them in its "is not one of" message. */
  paramNames: readonly string[];
  /** Enum values joined for the error message, computed once. */
  enumLists: ReadonlyMap<string, string>;
}

function endpoint(
  listParam: ListParam,
  itemValid: (item: string) => boolean,
  resource: Resource,
  expansions: readonly string[],
): EndpointSpec {
  const enums = new Map<string, ReadonlySet<string>>([
    ['expansions', new Set(expansions)],
    ['tweet.fields', new Set<string>(X_TWEET_FIELDS)],
    ['user.fields', new Set<string>(X_USER_FIELDS)],
  ]);
  return {
    listParam,
    itemValid,
    resource,
    enums,
    paramNames: [listParam, ...enums.keys()],
    enumLists: new Map([...enums].map(([name, values]) => [name, [...values].join(',')])),
  };
}

const ENDPOINTS: ReadonlyMap<string, EndpointSpec> = new Map([
  ['/2/users', endpoint('ids', isXId, 'user', X_USER_EXPANSIONS)],
  ['/2/users/by', endpoint('usernames', (name) => X_USERNAME_PATTERN.test(name), 'user', X_USER_EXPANSIONS)],
  ['/2/tweets', endpoint('ids', isXId, 'tweet', X_TWEET_EXPANSIONS)],
]);

/** The values the emulator accepts for an enum parameter of an endpoint (for drift tests against the spec). */
export function xEmulatorAcceptedValues(path: string, param: string): string[] | undefined {
  const values = ENDPOINTS.get(path)?.enums.get(param);
  return values && [...values];
}

// ---------------------------------------------------------------------------------------------
// Bodies X sends.

/** `type` of a per-item problem in a partial 200 (a user or tweet not found, or suspended). */
export const X_PROBLEM_NOT_FOUND = 'https://api.twitter.com/2/problems/resource-not-found';
/** `type` of a per-item problem about what the caller may not see (a protected account's post). */
export const X_PROBLEM_NOT_AUTHORIZED = 'https://api.twitter.com/2/problems/not-authorized-for-resource';
/** `type` of a 400's body. */
export const X_PROBLEM_INVALID_REQUEST = 'https://api.twitter.com/2/problems/invalid-request';

interface InvalidParam {
  parameters: Record<string, string[]>;
  message: string;
}

const PROBLEM_CT = 'application/problem+json';

const NOT_FOUND_PAGE = JSON.stringify({ errors: [{ message: 'Sorry, that page does not exist', code: 34 }] });
const UNAUTHORIZED = JSON.stringify({ title: 'Unauthorized', type: 'about:blank', status: 401, detail: 'Unauthorized' });
const TOO_MANY = JSON.stringify({ title: 'Too Many Requests', detail: 'Too Many Requests', type: 'about:blank', status: 429 });
const STATUS_TITLES: Record<number, string> = {
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** X's generic problem body of an HTTP error (5xx), as an `application/problem+json` answer. */
function genericProblem(status: number): Reply {
  const title = STATUS_TITLES[status] ?? 'Error';
  return { status, contentType: PROBLEM_CT, body: JSON.stringify({ title, detail: title, type: 'about:blank', status }) };
}

function invalidRequest(errors: InvalidParam[], headers: Record<string, string>): Reply {
  const body = {
    errors,
    title: 'Invalid Request',
    detail: 'One or more parameters to your request was invalid.',
    type: X_PROBLEM_INVALID_REQUEST,
  };
  return jsonReply(400, body, headers);
}

function lookupError(resource: Resource, param: ListParam, value: string, suspended: boolean): XProblem {
  return {
    value,
    detail: suspended ? `User has been suspended: [${value}].` : `Could not find ${resource} with ${param}: [${value}].`,
    title: suspended ? 'Forbidden' : 'Not Found Error',
    resource_type: resource,
    parameter: param,
    resource_id: value,
    type: X_PROBLEM_NOT_FOUND,
  };
}

/** A post the caller may not see, as X reports it: in the `data` it asked for, or in the `includes` it expanded. */
function notAuthorized(parameter: string, value: string, section: 'data' | 'includes'): XProblem & { section: string } {
  return {
    value,
    detail: `Sorry, you are not authorized to see the Tweet with ${parameter}: [${value}].`,
    title: 'Authorization Error',
    resource_type: 'tweet',
    parameter,
    resource_id: value,
    section,
    type: X_PROBLEM_NOT_AUTHORIZED,
  };
}

// ---------------------------------------------------------------------------------------------
// Validation.

/** Checks the query like X does and returns every problem found (empty = valid). */
function validate(spec: EndpointSpec, params: URLSearchParams): InvalidParam[] {
  const errors: InvalidParam[] = [];
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (name !== spec.listParam && !spec.enums.has(name)) {
      errors.push({
        parameters: { [name]: [value] },
        message: `The query parameter [${name}] is not one of [${spec.paramNames.join(',')}]`,
      });
    } else if (seen.has(name)) {
      // Emulator wording: a repeated parameter is ambiguous, so refuse it rather than guess.
      errors.push({ parameters: { [name]: params.getAll(name) }, message: `The query parameter [${name}] was given more than once` });
    }
    seen.add(name);
  }

  const listParam = spec.listParam;
  const raw = params.get(listParam);
  if (raw === null || raw === '') {
    errors.push({ parameters: { [listParam]: [] }, message: `The \`${listParam}\` query parameter can not be empty` });
  } else {
    const items = raw.split(',');
    if (items.length > X_MAX_IDS_PER_CALL) {
      errors.push({
        parameters: { [listParam]: [raw] },
        message: `The number of values in the \`${listParam}\` query parameter list [${items.length}] is not between 1 and ${X_MAX_IDS_PER_CALL}`,
      });
    }
    for (const item of items) {
      if (!spec.itemValid(item)) {
        errors.push({ parameters: { [listParam]: [item] }, message: `The \`${listParam}\` query parameter value [${item}] is not valid` });
      }
    }
  }

  for (const [name, allowed] of spec.enums) {
    const value = params.get(name);
    if (value === null) continue;
    for (const item of value.split(',')) {
      if (!allowed.has(item)) {
        errors.push({
          parameters: { [name]: [item] },
          message: `The \`${name}\` query parameter value [${item}] is not one of [${spec.enumLists.get(name)}]`,
        });
      }
    }
  }
  return errors;
}

// ---------------------------------------------------------------------------------------------
// Projection: X returns only the fields asked for (plus the ones it always sends).

/** XApiUser keys beyond the always-present id/name/username. */
const USER_OPTIONAL_KEYS = [
  'created_at',
  'description',
  'location',
  'url',
  'profile_image_url',
  'protected',
  'verified',
  'verified_type',
  'public_metrics',
  'withheld',
  'pinned_tweet_id',
  'most_recent_tweet_id',
] as const satisfies readonly Exclude<keyof XApiUser, 'id' | 'name' | 'username'>[];

const TWEET_OPTIONAL_KEYS = ['author_id', 'created_at', 'lang', 'public_metrics'] as const satisfies readonly Exclude<
  keyof XApiTweet,
  'id' | 'text' | 'edit_history_tweet_ids'
>[];

function csvSet(value: string | null): Set<string> {
  return new Set(value === null ? [] : value.split(','));
}

/**
 * `fields` = requested user.fields plus any id field whose expansion was requested:
 * X includes e.g. `pinned_tweet_id` in the user when it expands it.
 */
function projectUser(user: XApiUser, fields: ReadonlySet<string>): XApiUser {
  const out: XApiUser = { id: user.id, name: user.name, username: user.username };
  for (const key of USER_OPTIONAL_KEYS) {
    if (fields.has(key) && user[key] !== undefined) copyField(user, out, key);
  }
  return out;
}

function copyField<T, K extends keyof T>(from: T, to: T, key: K): void {
  to[key] = from[key];
}

function projectTweet(tweet: XApiTweet, fields: ReadonlySet<string>): XApiTweet {
  const out: XApiTweet = { edit_history_tweet_ids: tweet.edit_history_tweet_ids ?? [tweet.id], id: tweet.id, text: tweet.text };
  for (const key of TWEET_OPTIONAL_KEYS) {
    if (fields.has(key) && tweet[key] !== undefined) copyField(tweet, out, key);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rate limiting: a fixed window per endpoint path, like X's 15-minute windows; a window counts the
// requests it let through.

class RateLimiter {
  private readonly windows: FixedWindows;

  constructor(
    readonly limit: number,
    windowSeconds: number,
    clock: EmulatorClock,
  ) {
    this.windows = new FixedWindows(windowSeconds, clock);
  }

  /** Spends one unit if any is left; returns whether it could, plus the headers to send. */
  take(path: string): { allowed: boolean; headers: Record<string, string> } {
    const window = this.windows.current(path);
    const allowed = window.total < this.limit;
    if (allowed) window.total++;
    return { allowed, headers: this.headers(window) };
  }

  force(path: string, remaining: number, resetEpochSeconds?: number): void {
    const window = this.windows.current(path);
    window.total = this.limit - remaining;
    if (resetEpochSeconds !== undefined) window.resetAtS = resetEpochSeconds;
  }

  clear(): void {
    this.windows.clear();
  }

  private headers(window: FixedWindow): Record<string, string> {
    return {
      'x-rate-limit-limit': String(this.limit),
      'x-rate-limit-remaining': String(Math.max(0, this.limit - window.total)),
      'x-rate-limit-reset': String(window.resetAtS),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Lookups.

interface LookupContext {
  maxKnownId: number;
  suspended: ReadonlySet<string>;
  protectedPosts: 'everyone' | 'followers';
}

/** Who a request authenticates as: the app, or one of the users whose tokens it accepts. */
type Principal = { kind: 'app'; name: 'app' } | { kind: 'user'; name: string; follows: ReadonlySet<string> };

/** Whether `viewer` sees the posts of `authorId`: a protected account's only if it follows it (with `followers`). */
function seesPostsOf(ctx: LookupContext, viewer: Principal, authorId: string | undefined): boolean {
  if (ctx.protectedPosts === 'everyone' || authorId === undefined || demoXUser(Number(authorId)).protected !== true) return true;
  return viewer.kind === 'user' && viewer.follows.has(authorId);
}

function lookupUsers(spec: EndpointSpec, params: URLSearchParams, ctx: LookupContext, viewer: Principal): XLookupResponse<XApiUser> {
  const fields = csvSet(params.get('user.fields'));
  const expansions = csvSet(params.get('expansions'));
  const tweetFields = csvSet(params.get('tweet.fields'));
  for (const idField of ['pinned_tweet_id', 'most_recent_tweet_id'] as const) if (expansions.has(idField)) fields.add(idField);

  const byUsername = spec.listParam === 'usernames';
  const seen = new Set<string>();
  const data: XApiUser[] = [];
  const errors: XProblem[] = [];
  const tweets = new Map<string, XApiTweet>();

  for (const value of (params.get(spec.listParam) ?? '').split(',')) {
    const key = byUsername ? value.toLowerCase() : value;
    if (seen.has(key)) continue; // duplicates come back once
    seen.add(key);
    const id = byUsername ? demoUserIdForUsername(value, ctx.maxKnownId) : parseDemoUserId(value, ctx.maxKnownId);
    // Suspension is keyed by user id; an id-lookup checks the raw id so even ids beyond the demo range can be suspended.
    const suspended = byUsername ? id !== undefined && ctx.suspended.has(String(id)) : ctx.suspended.has(value);
    if (suspended || id === undefined) {
      errors.push(lookupError('user', spec.listParam, value, suspended));
      continue;
    }
    const user = demoXUser(id);
    data.push(projectUser(user, fields));
    for (const idField of ['pinned_tweet_id', 'most_recent_tweet_id'] as const) {
      const tweetId = expansions.has(idField) ? user[idField] : undefined;
      if (tweetId === undefined || tweets.has(tweetId)) continue;
      const tweet = demoXTweet(tweetId, ctx.maxKnownId);
      if (tweet === undefined) continue;
      // The account's id field is still sent; the post itself is not, and `errors` says why.
      if (seesPostsOf(ctx, viewer, tweet.author_id)) tweets.set(tweetId, projectTweet(tweet, tweetFields));
      else errors.push(notAuthorized(idField, tweetId, 'includes'));
    }
  }
  return assemble(data, errors, tweets.size > 0 ? { tweets: [...tweets.values()] } : undefined);
}

function lookupTweets(params: URLSearchParams, ctx: LookupContext, viewer: Principal): XLookupResponse<XApiTweet> {
  const fields = csvSet(params.get('tweet.fields'));
  const expandAuthors = csvSet(params.get('expansions')).has('author_id');
  const userFields = csvSet(params.get('user.fields'));
  if (expandAuthors) fields.add('author_id'); // X includes the id field it expands

  const seen = new Set<string>();
  const data: XApiTweet[] = [];
  const errors: XProblem[] = [];
  const authors = new Map<string, XApiUser>();

  for (const id of (params.get('ids') ?? '').split(',')) {
    if (seen.has(id)) continue;
    seen.add(id);
    const tweet = demoXTweet(id, ctx.maxKnownId);
    // Tweets of suspended accounts are gone for API clients: they answer as not found.
    if (tweet === undefined || (tweet.author_id !== undefined && ctx.suspended.has(tweet.author_id))) {
      errors.push(lookupError('tweet', 'ids', id, false));
      continue;
    }
    if (!seesPostsOf(ctx, viewer, tweet.author_id)) {
      errors.push(notAuthorized('ids', id, 'data'));
      continue;
    }
    data.push(projectTweet(tweet, fields));
    const authorId = tweet.author_id;
    if (expandAuthors && authorId !== undefined && !authors.has(authorId)) {
      authors.set(authorId, projectUser(demoXUser(Number(authorId)), userFields));
    }
  }
  return assemble(data, errors, authors.size > 0 ? { users: [...authors.values()] } : undefined);
}

/**
 * Builds the 200 body. `data` is reversed on purpose: X does not answer in request order, and a
 * client that matches results by position must break here rather than in production.
 * Empty `data` / `includes` / `errors` are omitted, as X does.
 */
function assemble<T>(data: T[], errors: XProblem[], includes: XLookupResponse<T>['includes']): XLookupResponse<T> {
  const body: XLookupResponse<T> = {};
  if (data.length > 0) body.data = data.reverse();
  if (includes) body.includes = includes;
  if (errors.length > 0) body.errors = errors;
  return body;
}

// ---------------------------------------------------------------------------------------------
// Server.

const NOT_FOUND_REPLY: Reply = { status: 404, body: NOT_FOUND_PAGE };
const UNAUTHORIZED_REPLY: Reply = { status: 401, contentType: PROBLEM_CT, body: UNAUTHORIZED };

/** X's own answer with `status`, for an injected `status` fault. */
function statusReply(status: number): Reply {
  if (status === 401) return UNAUTHORIZED_REPLY;
  if (status === 429) return { status, contentType: PROBLEM_CT, body: TOO_MANY };
  return genericProblem(status);
}

export async function startXEmulator(options: XEmulatorOptions): Promise<XEmulator> {
  // `Authorization` values the emulator accepts, and who each authenticates as.
  const principals = new Map<string, Principal>([[`Bearer ${options.bearerToken}`, { kind: 'app', name: 'app' }]]);
  for (const user of options.userTokens ?? []) {
    principals.set(`Bearer ${user.token}`, { kind: 'user', name: user.name, follows: new Set(user.follows ?? []) });
  }
  const clock = options.clock ?? systemEmulatorClock;
  const limiter = new RateLimiter(options.rateLimit?.limit ?? 300, options.rateLimit?.windowSeconds ?? 900, clock);
  /** The window a principal's calls to a path count in: the app's is the path's own, each user's apart. */
  const windowOf = (path: string, user?: string) => (user === undefined || user === 'app' ? path : `${path} as ${user}`);
  const ctx: LookupContext = {
    maxKnownId: options.maxKnownId ?? DEMO_MAX_ID,
    suspended: new Set(options.suspendedIds ?? []),
    protectedPosts: options.protectedPosts ?? 'everyone',
  };
  const log = new RequestLog<XEmulatorRequest>(options.recordRequests ?? true);
  const faults = new FaultQueue<HttpFault>();
  const sender = new ReplySender(options.latencyMs);
  const bodies = options.memoizeBodies ? new Map<string, string>() : undefined;

  function answer(req: IncomingMessage, path: string, params: URLSearchParams, principal: Principal | undefined): Reply {
    const fault = faults.next(path);
    if (fault) return faultReply(fault, { own: statusReply, normal: () => lookup(req, path, params, principal) });
    return lookup(req, path, params, principal);
  }

  /** The answer of a request no fault was injected for. */
  function lookup(req: IncomingMessage, path: string, params: URLSearchParams, principal: Principal | undefined): Reply {
    const spec = ENDPOINTS.get(path);
    if (spec === undefined || req.method !== 'GET') return NOT_FOUND_REPLY;
    if (principal === undefined) return UNAUTHORIZED_REPLY;

    const budget = limiter.take(windowOf(path, principal.name));
    if (!budget.allowed) return { status: 429, contentType: PROBLEM_CT, body: TOO_MANY, headers: budget.headers };

    const invalid = validate(spec, params);
    if (invalid.length > 0) return invalidRequest(invalid, budget.headers);

    // What a request sees depends on who sends it.
    const cacheKey = `${principal.name} ${req.url ?? '/'}`;
    let body = bodies?.get(cacheKey);
    if (body === undefined) {
      body = JSON.stringify(spec.resource === 'tweet' ? lookupTweets(params, ctx, principal) : lookupUsers(spec, params, ctx, principal));
      if (bodies !== undefined) {
        if (bodies.size >= 1_000) bodies.clear(); // bounded: a cache, not a store
        bodies.set(cacheKey, body);
      }
    }
    return { status: 200, body, headers: budget.headers };
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    req.resume(); // drain any body so the keep-alive socket can be reused
    const { path, query } = splitRequestUrl(req.url);
    const params = new URLSearchParams(query);
    const principal = principals.get(req.headers.authorization ?? '');
    const record = log.add({
      method: req.method ?? 'GET',
      path,
      query: Object.fromEntries(params),
      principal: principal?.name ?? '',
      status: 0,
    });
    sender.send(res, answer(req, path, params, principal), record);
  }

  const server = await startLoopbackServer({
    name: 'x emulator',
    port: options.port,
    host: options.host,
    handle,
    timers: sender.timers,
    internalError: genericProblem(500),
  });

  return {
    url: server.url,
    requests: log.entries,
    reset() {
      log.clear();
      faults.clear();
      limiter.clear();
    },
    setRemaining(endpointPath, remaining, resetEpochSeconds, user) {
      limiter.force(windowOf(endpointPath, user), remaining, resetEpochSeconds);
    },
    faults,
    failNext(count: number, what: number | HttpFault, headers?: Record<string, string>) {
      faults.add(count, typeof what === 'number' ? { kind: 'status', status: what, headers } : what);
    },
    holdReplies: () => sender.hold(),
    close: () => server.close(),
  };
}
