/**
 * A real HTTP server that plays a strict Bitrix24 portal (`im.user.list.get` and `batch`) plus the OAuth
 * server that refreshes its tokens, over the deterministic demo data.
 *
 * What a client must cope with, as on a real portal: both ways of connecting (an incoming webhook whose URL
 * is the secret, or an OAuth access token in `auth`: the app's, or a portal user's own, which sees what
 * that user may see), JSON or PHP-style form bodies, access tokens that
 * expire and refresh tokens that are single-use, a per-portal leaky bucket answering 503
 * QUERY_LIMIT_EXCEEDED, `batch` that is always HTTP 200 with per-command errors, empty maps serialized
 * as `[]`, and a `time` block on every REST response. Faults (any status with the portal's own error
 * body, the shared `HttpFault`s, per-command errors) and latency can be injected. Everything time-based (the bucket, token expiry, the `time` block and its 10-minute
 * operating window) reads the injected `clock`.
 *
 * Order of checks per REST request: route (404 outside /rest/) → POST only (400) → injected fault
 * → body (400 INVALID_FORMAT) → auth (401, costs no budget) → leaky bucket (503, else one unit is spent;
 * a whole `batch` is one unit) → method (404) → validation (400) → 200. An injected `status`, `html` or
 * `oversize` fault answers instead of the rest; `slow`, `reset` and `truncated-json` break the answer the
 * request gets after every check.
 * The OAuth endpoint (`GET /oauth/token/`) is another server on the real service: no bucket, no faults.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type EmulatorClock, systemEmulatorClock } from '../../../emulators/clock.js';
import { FaultQueue, type HttpFault } from '../../../emulators/fault-queue.js';
import { FixedWindows } from '../../../emulators/fixed-window.js';
import { IssuedTokens, type TokenCheck } from '../../../emulators/issued-tokens.js';
import { LeakyBucket } from '../../../emulators/leaky-bucket.js';
import { startLoopbackServer } from '../../../emulators/loopback-server.js';
import type { HttpEmulatorOptions } from '../../../emulators/options.js';
import { readBody } from '../../../emulators/read-body.js';
import { faultReply, jsonReply, type Reply, ReplySender } from '../../../emulators/reply.js';
import { RequestLog } from '../../../emulators/request-log.js';
import { splitRequestUrl } from '../../../emulators/request-url.js';
import {
  BITRIX_ID_PATTERN,
  BITRIX_MAX_BATCH_COMMANDS,
  type BitrixApiUser,
  type BitrixBatchResponse,
  type BitrixError,
  type BitrixTokenResponse,
  type BitrixUserListResponse,
} from '../wire.js';
import { BITRIX_DEMO_MAX_ID, demoBitrixUser, formatBitrixAtom } from './demo-data.js';

export interface Bitrix24EmulatorOptions extends HttpEmulatorOptions {
  /** Enables the webhook form `POST /rest/<userId>/<secret>/<method>`. */
  webhook?: { userId: number; secret: string };
  /** Enables the OAuth form `POST /rest/<method>` with `auth=<token>`, and `GET /oauth/token/`. */
  oauth?: { clientId: string; clientSecret: string; accessToken: string; refreshToken: string; accessTokenTtlSeconds?: number };
  /** Users `1..maxKnownId` exist. Default BITRIX_DEMO_MAX_ID. */
  maxKnownId?: number;
  /** The portal's leaky bucket. Default 2 requests/s, burst 50 (a standard plan). */
  bucket?: { perSecond: number; burst: number };
  /**
   * Access tokens of the portal's own users, accepted in `auth` besides the app's (with OAuth or a
   * webhook alike): what a caller of the subgraph sends in its own name. Each sees every user but the
   * `restrictedIds` it is not listed for; `expireCallerToken` makes one answer expired_token.
   */
  callerTokens?: readonly Bitrix24CallerToken[];
  /** Users only the caller tokens that list them in `sees` can see; to everyone else (the webhook and the app too) they are unknown. */
  restrictedIds?: Iterable<number>;
}

/** A portal user's access token, and what that user sees. */
export interface Bitrix24CallerToken {
  /** How the request log names the token's user (never the token). */
  name: string;
  token: string;
  /** `restrictedIds` this user may see. */
  sees?: Iterable<number>;
}

export interface Bitrix24EmulatorRequest {
  /** The REST method (lower case, without `.json`), 'oauth.token', or '' for a path outside /rest/. */
  method: string;
  /** Request path without the query string; a webhook secret is replaced by `<secret>`. */
  path: string;
  /** `im.user.list.get`: the ids asked for; `batch`: those of all its im.user.list.get commands, in order. */
  ids?: number[];
  /** `batch`: how many commands it carried. */
  commands?: number;
  /** Whether AVATAR_HR=Y was asked (by any command, for a batch). */
  avatarHr?: boolean;
  /** HTTP status sent back; 0 while the response is pending (or when the client hung up first). */
  status: number;
  /** How the REST request tried to authenticate (absent for the OAuth endpoint). */
  auth?: 'webhook' | 'oauth' | 'none';
  /** The `name` of the caller token it authenticated with, if it was one. */
  caller?: string;
}

export interface Bitrix24Emulator {
  /** The portal base, e.g. http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  /** `${url}/rest/<userId>/<secret>/` when a webhook is configured. */
  webhookUrl: string | undefined;
  /** Every request received, in arrival order. */
  requests: Bitrix24EmulatorRequest[];
  /** Clears `requests`, injected faults (failNext, failCommand) and the leaky bucket. Tokens are kept. */
  reset(): void;
  /** The current access token starts answering 401 expired_token. */
  expireAccessToken(): void;
  /** The caller token named `name` starts answering 401 expired_token (its user must renew it). */
  expireCallerToken(name: string): void;
  currentTokens(): { accessToken: string; refreshToken: string };
  /** The next `count` REST requests answer `status` (503 QUERY_LIMIT_EXCEEDED, 429 OPERATION_TIME_LIMIT, 500 INTERNAL_SERVER_ERROR; `error` overrides the code). */
  failNext(count: number, status: 429 | 500 | 503, error?: string): void;
  /**
   * The next `count` REST requests get `fault`. A `status` fault answers the portal's own error body:
   * 503 QUERY_LIMIT_EXCEEDED, 429 OPERATION_TIME_LIMIT, 401 NO_AUTH_FOUND, 500 (and any other status)
   * INTERNAL_SERVER_ERROR, each with its `time` block.
   */
  failNext(count: number, fault: HttpFault): void;
  /** The injected faults themselves, for faults on one route (the REST method, e.g. `batch`, `user.get`) or standing ones. */
  readonly faults: FaultQueue<Bitrix24Fault>;
  /** Until reset(): any batch command whose ID list includes `id` ends in result_error with this error. */
  failCommand(id: number, error: string, description?: string): void;
  /** Idempotent; also closes idle keep-alive sockets. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Errors and the `time` block.

/** The `time` block every REST answer carries (and each `batch` command, in `result_time`). */
export interface BitrixTime {
  /** Epoch seconds, with fractions. */
  start: number;
  finish: number;
  duration: number;
  processing: number;
  date_start: string;
  date_finish: string;
  /** Epoch seconds when the method's time budget (OPERATION_TIME_LIMIT) resets. */
  operating_reset_at?: number;
  /** Seconds of the method's time budget spent in the current window. */
  operating?: number;
}

/** A REST error answer: HTTP status plus Bitrix's `{error, error_description}`. */
class RestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly description: string,
  ) {
    super(`${code}: ${description}`);
  }

  get body(): BitrixError {
    return { error: this.code, error_description: this.description };
  }
}

const invalidFormat = (description: string): RestError => new RestError(400, 'INVALID_FORMAT', description);
const WRONG_ID = 'A wrong format for the ID field is passed';
const NO_AUTH = (): RestError => new RestError(401, 'NO_AUTH_FOUND', 'Wrong authorization data');
const METHOD_NOT_FOUND = (): RestError => new RestError(404, 'ERROR_METHOD_NOT_FOUND', 'Method not found!');

/** Bitrix accounts each method's execution time per 10-minute window (the OPERATION_TIME_LIMIT budget). */
const OPERATING_WINDOW_S = 600;

/** Each method's time budget (seconds of work in its fixed 10-minute window), and the `time` blocks that report it. */
class OperatingBudget {
  private readonly windows: FixedWindows;

  constructor(private readonly clock: EmulatorClock) {
    this.windows = new FixedWindows(OPERATING_WINDOW_S, clock);
  }

  /** The `time` block of a call that started at `startMs`; `spend` adds its duration to the method's budget. */
  time(method: string, startMs: number, spend: boolean, operatingOverride?: number): BitrixTime {
    const finishMs = Math.max(this.clock.now(), startMs);
    const duration = (finishMs - startMs) / 1000;
    const window = this.windows.current(method);
    if (spend) window.total += duration;
    return {
      start: startMs / 1000,
      finish: finishMs / 1000,
      duration,
      processing: duration,
      date_start: formatBitrixAtom(startMs),
      date_finish: formatBitrixAtom(finishMs),
      operating_reset_at: window.resetAtS,
      operating: operatingOverride ?? window.total,
    };
  }

  clear(): void {
    this.windows.clear();
  }
}

/** Bitrix (PHP) serializes an empty associative array as `[]`. */
function mapOrEmpty<T>(map: Record<string, T>): Record<string, T> | [] {
  return Object.keys(map).length === 0 ? [] : map;
}

// ---------------------------------------------------------------------------------------------
// Parameters: JSON, or PHP-style forms (`ID[]=4&ID[1]=5&cmd[k]=...`), merged over the query string.

type Params = Record<string, unknown>;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses `a=1&b[]=2&c[k]=3` the way PHP does; containers are null-prototype objects. */
function parseForm(text: string): Params {
  const root: Params = Object.create(null) as Params;
  for (const [name, value] of new URLSearchParams(text)) {
    const parts = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(name);
    const base = parts?.[1];
    if (base === undefined) throw invalidFormat(`Malformed parameter name: ${name}`);
    let container = root;
    let key = base;
    for (const [, sub = ''] of (parts?.[2] ?? '').matchAll(/\[([^[\]]*)\]/g)) {
      let child = container[key];
      if (child === undefined) container[key] = child = Object.create(null) as Params;
      if (!isObject(child)) throw invalidFormat(`Parameter ${base} is both a value and a list`);
      container = child;
      key = sub === '' ? String(Object.keys(container).length) : sub;
    }
    if (isObject(container[key])) throw invalidFormat(`Parameter ${base} is both a value and a list`);
    container[key] = value;
  }
  return root;
}

/** Body parameters win over query parameters (PHP's $_REQUEST). Anything but JSON or a form is refused. */
function parseParams(contentType: string | undefined, body: string, query: string): Params {
  const params = parseForm(query);
  if (body.length === 0) return params;
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  let fromBody: Params;
  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw invalidFormat('The request body is not valid JSON');
    }
    if (!isObject(parsed)) throw invalidFormat('The JSON body must be an object');
    fromBody = parsed;
  } else if (type === 'application/x-www-form-urlencoded') {
    fromBody = parseForm(body);
  } else {
    throw invalidFormat('Unsupported request body: send application/json or application/x-www-form-urlencoded');
  }
  return { ...params, ...fromBody };
}

// ---------------------------------------------------------------------------------------------
// im.user.list.get

interface UserListCall {
  ids: number[];
  avatarHr: boolean;
}

/** `ID` must be a list (JSON array, or `ID[]=`/`ID[n]=` in a form) of positive integers. */
function readUserListCall(params: Params): UserListCall {
  const raw = params.ID;
  const items = Array.isArray(raw) ? (raw as unknown[]) : isObject(raw) ? Object.values(raw) : undefined;
  if (items === undefined) throw invalidFormat(WRONG_ID);
  const ids = items.map((item) => {
    const text = typeof item === 'number' ? String(item) : typeof item === 'string' ? item : '';
    if (!BITRIX_ID_PATTERN.test(text)) throw invalidFormat(WRONG_ID);
    return Number(text);
  });
  return { ids, avatarHr: params.AVATAR_HR === 'Y' };
}

/** The `result` map: one key per distinct id, `null` for one unknown to the caller; an empty map is `[]`. */
function userListResult(call: UserListCall, known: (id: number) => boolean): BitrixUserListResponse['result'] {
  const result: Record<string, BitrixApiUser | null> = {};
  for (const id of call.ids) result[String(id)] = known(id) ? demoBitrixUser(id, call.avatarHr) : null;
  return mapOrEmpty(result);
}

// ---------------------------------------------------------------------------------------------
// batch

interface BatchOutcome {
  result: BitrixBatchResponse['result'];
  commands: number;
  ids: number[];
  avatarHr: boolean;
}

interface BatchContext {
  /** Whether the caller sees user `id`. */
  known: (id: number) => boolean;
  failures: ReadonlyMap<number, BitrixError>;
  budget: OperatingBudget;
  clock: EmulatorClock;
}

/** Runs `cmd` (an object or list of `method?query` strings); `halt=1` stops at the first failing command. */
function runBatch(params: Params, ctx: BatchContext): BatchOutcome {
  const cmd = params.cmd ?? {};
  if (!isObject(cmd) && !Array.isArray(cmd)) throw invalidFormat('cmd must be a list of commands');
  const entries = Array.isArray(cmd) ? cmd.map((command: unknown, index) => [String(index), command] as const) : Object.entries(cmd);
  if (entries.length > BITRIX_MAX_BATCH_COMMANDS) {
    throw new RestError(400, 'ERROR_BATCH_LENGTH_EXCEEDED', 'Max batch length exceeded');
  }
  const halt = params.halt === 1 || params.halt === '1' || params.halt === true;

  const results: Record<string, BitrixUserListResponse['result']> = {};
  const errors: Record<string, BitrixError> = {};
  const times: Record<string, BitrixTime> = {};
  const ids: number[] = [];
  let avatarHr = false;
  for (const [key, command] of entries) {
    const startMs = ctx.clock.now();
    const method = typeof command === 'string' ? commandMethod(command) : '';
    try {
      if (typeof command !== 'string') throw invalidFormat('A batch command must be a string');
      if (method === 'batch') throw new RestError(405, 'ERROR_BATCH_METHOD_NOT_ALLOWED', 'Method is not allowed for batch usage');
      if (method !== 'im.user.list.get') throw METHOD_NOT_FOUND();
      const call = readUserListCall(parseForm(splitRequestUrl(command).query));
      ids.push(...call.ids);
      avatarHr ||= call.avatarHr;
      const failure = call.ids.map((id) => ctx.failures.get(id)).find((error) => error !== undefined);
      if (failure) errors[key] = { ...failure };
      else results[key] = userListResult(call, ctx.known);
    } catch (err) {
      if (!(err instanceof RestError)) throw err;
      errors[key] = err.body;
    }
    times[key] = ctx.budget.time(method, startMs, results[key] !== undefined);
    if (halt && errors[key] !== undefined) break;
  }
  return {
    result: {
      result: mapOrEmpty(results),
      result_error: mapOrEmpty(errors),
      result_total: [],
      result_next: [],
      result_time: mapOrEmpty(times),
    },
    commands: entries.length,
    ids,
    avatarHr,
  };
}

/** `im.user.list.get.json?ID[]=1` → `im.user.list.get` (method names are case-insensitive). */
function commandMethod(command: string): string {
  const { path } = splitRequestUrl(command);
  return path.toLowerCase().replace(/\.json$/, '');
}

// ---------------------------------------------------------------------------------------------
// OAuth tokens.

/**
 * Issued access tokens stay valid until their own expiry (a refresh does not revoke the previous access
 * token); only the latest refresh token is accepted, each refresh rotating both.
 */
class OAuthTokens {
  private readonly issued: IssuedTokens;
  private generation = 0;
  accessToken: string;
  refreshToken: string;

  constructor(ttlSeconds: number, accessToken: string, refreshToken: string, clock: EmulatorClock) {
    this.issued = new IssuedTokens(ttlSeconds, clock);
    this.accessToken = accessToken;
    this.refreshToken = refreshToken;
    this.issued.issue(accessToken);
  }

  check(token: string): TokenCheck {
    return this.issued.check(token);
  }

  expireCurrent(): void {
    this.issued.revoke(this.accessToken);
  }

  /** Issues a new pair; returns the new access token's expiry (epoch ms). */
  rotate(): number {
    this.generation++;
    const suffix = `${this.generation}_${randomBytes(12).toString('hex')}`;
    this.accessToken = `emu_access_${suffix}`;
    this.refreshToken = `emu_refresh_${suffix}`;
    return this.issued.issue(this.accessToken);
  }
}

// ---------------------------------------------------------------------------------------------
// Routing.

type Route = { kind: 'token' } | { kind: 'rest'; method: string; webhook?: { userId: string; secret: string } } | { kind: 'none' };

function route(path: string): Route {
  if (path === '/oauth/token/' || path === '/oauth/token') return { kind: 'token' };
  const webhook = /^\/rest\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(path);
  if (webhook?.[1] && webhook[2] && webhook[3]) {
    return { kind: 'rest', method: commandMethod(webhook[3]), webhook: { userId: webhook[1], secret: webhook[2] } };
  }
  const oauth = /^\/rest\/([^/]+)$/.exec(path);
  if (oauth?.[1]) return { kind: 'rest', method: commandMethod(oauth[1]) };
  return { kind: 'none' };
}

/** Never keep a webhook secret, even a wrong one: `/rest/1/<anything>/...` → `/rest/1/<secret>/...`. */
function redactPath(path: string): string {
  return path.replace(/^\/rest\/([^/]+)\/[^/]+(\/|$)/, '/rest/$1/<secret>$2');
}

const MAX_BODY_BYTES = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Server.

/** An injected fault; a `status` one may name its own error code. */
/** What the Bitrix24 emulator injects: the shared HTTP faults, or a status with Bitrix24's own error code. */
export type Bitrix24Fault = HttpFault | { kind: 'status'; status: number; error: string | undefined };

const INTERNAL_ERROR: BitrixError = { error: 'INTERNAL_SERVER_ERROR', error_description: 'Internal server error' };
const FAULT_BODIES: Readonly<Record<number, BitrixError>> = {
  503: { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' },
  429: { error: 'OPERATION_TIME_LIMIT', error_description: 'Method is blocked due to operation time limit.' },
  401: NO_AUTH().body,
  500: INTERNAL_ERROR,
};

/** `operating` reported with an injected 429: past the 480 s per 10 min budget. */
const EXHAUSTED_OPERATING_S = 480.5;

export async function startBitrix24Emulator(options: Bitrix24EmulatorOptions): Promise<Bitrix24Emulator> {
  const clock = options.clock ?? systemEmulatorClock;
  const maxKnownId = options.maxKnownId ?? BITRIX_DEMO_MAX_ID;
  const bucket = new LeakyBucket(options.bucket?.perSecond ?? 2, options.bucket?.burst ?? 50, clock);
  const budget = new OperatingBudget(clock);
  const oauth = options.oauth;
  const tokens = oauth && new OAuthTokens(oauth.accessTokenTtlSeconds ?? 3600, oauth.accessToken, oauth.refreshToken, clock);
  const log = new RequestLog<Bitrix24EmulatorRequest>(options.recordRequests ?? true);
  const faults = new FaultQueue<Bitrix24Fault>();
  const failures = new Map<number, BitrixError>();
  const callers = new Map((options.callerTokens ?? []).map((caller) => [caller.token, { ...caller, sees: new Set(caller.sees ?? []) }]));
  const expiredCallers = new Set<string>();
  const restricted = new Set(options.restrictedIds ?? []);
  const sender = new ReplySender(options.latencyMs);
  let baseUrl = '';

  /** `GET /oauth/token/?grant_type=refresh_token&client_id&client_secret&refresh_token`. */
  function token(req: IncomingMessage, query: string): Reply {
    if (oauth === undefined || tokens === undefined)
      return jsonReply(404, { error: 'not_found', error_description: 'OAuth is not enabled' });
    if (req.method !== 'GET') return jsonReply(400, { error: 'invalid_request', error_description: 'Use GET' });
    const params = new URLSearchParams(query);
    if (params.get('grant_type') !== 'refresh_token') {
      return jsonReply(400, { error: 'unsupported_grant_type', error_description: 'Only grant_type=refresh_token is supported' });
    }
    if (params.get('client_id') !== oauth.clientId || params.get('client_secret') !== oauth.clientSecret) {
      return jsonReply(401, { error: 'invalid_client', error_description: 'Invalid client credentials' });
    }
    if (params.get('refresh_token') !== tokens.refreshToken) {
      return jsonReply(400, { error: 'invalid_grant', error_description: 'Invalid refresh token' });
    }
    const expiresAtMs = tokens.rotate();
    const body: BitrixTokenResponse = {
      access_token: tokens.accessToken,
      expires: Math.floor(expiresAtMs / 1000),
      expires_in: oauth.accessTokenTtlSeconds ?? 3600,
      scope: 'im,user',
      domain: new URL(baseUrl).host,
      server_endpoint: `${baseUrl}/rest/`,
      client_endpoint: `${baseUrl}/rest/`,
      status: 'L',
      member_id: 'emu0000000000000000000000bitrix24',
      refresh_token: tokens.refreshToken,
    };
    return jsonReply(200, body);
  }

  /** Authenticates a REST call: the caller token it carries, if any; throws the 401 to send. */
  function authenticate(
    target: Extract<Route, { kind: 'rest' }>,
    params: Params,
    record: Bitrix24EmulatorRequest,
  ): { sees: ReadonlySet<number> } | undefined {
    if (target.webhook) {
      record.auth = 'webhook';
      const webhook = options.webhook;
      if (webhook === undefined || target.webhook.userId !== String(webhook.userId) || target.webhook.secret !== webhook.secret) {
        throw NO_AUTH();
      }
      return undefined;
    }
    const auth = params.auth;
    record.auth = typeof auth === 'string' && auth !== '' ? 'oauth' : 'none';
    if (typeof auth !== 'string' || auth === '') throw NO_AUTH();
    const caller = callers.get(auth);
    if (caller !== undefined) record.caller = caller.name;
    const check = caller !== undefined ? (expiredCallers.has(caller.name) ? 'expired' : 'valid') : (tokens?.check(auth) ?? 'unknown');
    if (check === 'expired') throw new RestError(401, 'expired_token', 'The access token provided has expired.');
    if (check === 'unknown') throw new RestError(401, 'invalid_token', 'The access token provided is invalid.');
    return caller;
  }

  /** A REST call that passed auth and the bucket: the method's 200 body, or a RestError. `caller`: the caller token it carried. */
  function call(
    method: string,
    params: Params,
    record: Bitrix24EmulatorRequest,
    caller: { sees: ReadonlySet<number> } | undefined,
  ): Record<string, unknown> {
    const known = (id: number) => id <= maxKnownId && (!restricted.has(id) || caller?.sees.has(id) === true);
    if (method === 'im.user.list.get') {
      const userListCall = readUserListCall(params);
      record.ids = userListCall.ids;
      record.avatarHr = userListCall.avatarHr;
      return { result: userListResult(userListCall, known) };
    }
    if (method === 'batch') {
      const outcome = runBatch(params, { known, failures, budget, clock });
      record.commands = outcome.commands;
      record.ids = outcome.ids;
      record.avatarHr = outcome.avatarHr;
      return { result: outcome.result };
    }
    throw METHOD_NOT_FOUND();
  }

  /** A REST request (or one outside /rest/): its answer, with the `time` block of a call that started at `startMs`. */
  function rest(
    req: IncomingMessage,
    target: Route,
    body: string | undefined,
    query: string,
    record: Bitrix24EmulatorRequest,
    startMs: number,
  ): Reply {
    const method = target.kind === 'rest' ? target.method : '';
    const failure = (error: RestError, operating?: number): Reply =>
      jsonReply(error.status, { ...error.body, time: budget.time(method, startMs, false, operating) });

    if (target.kind !== 'rest') return failure(METHOD_NOT_FOUND());
    if (req.method !== 'POST') return failure(invalidFormat('Only POST is accepted'));

    const restTarget = target;
    const own = (status: number, code?: string): Reply => {
      const defaults = FAULT_BODIES[status] ?? INTERNAL_ERROR;
      const error = new RestError(status, code ?? defaults.error, defaults.error_description ?? '');
      return failure(error, status === 429 ? EXHAUSTED_OPERATING_S : undefined);
    };
    const normal = (): Reply => {
      try {
        if (body === undefined) throw invalidFormat('The request body is too large');
        const params = parseParams(req.headers['content-type'], body, query);
        const caller = authenticate(restTarget, params, record);
        if (!bucket.take()) throw new RestError(503, 'QUERY_LIMIT_EXCEEDED', 'Too many requests');
        const answer = call(method, params, record, caller);
        return jsonReply(200, { ...answer, time: budget.time(method, startMs, true) });
      } catch (error) {
        if (!(error instanceof RestError)) throw error;
        return failure(error);
      }
    };

    const fault = faults.next(method);
    if (fault === undefined) return normal();
    if (fault.kind === 'status' && 'error' in fault) return own(fault.status, fault.error);
    return faultReply(fault, { own, normal });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startMs = clock.now();
    const { path, query } = splitRequestUrl(req.url);
    const target = route(path);
    const record = log.add({
      method: target.kind === 'token' ? 'oauth.token' : target.kind === 'rest' ? target.method : '',
      path: redactPath(path),
      status: 0,
    });
    const body = await readBody(req, MAX_BODY_BYTES);
    const reply = target.kind === 'token' ? token(req, query) : rest(req, target, body, query, record, startMs);
    sender.send(res, reply, record);
  }

  const server = await startLoopbackServer({
    name: 'bitrix24 emulator',
    port: options.port,
    host: options.host,
    handle,
    timers: sender.timers,
    internalError: jsonReply(500, FAULT_BODIES[500]),
  });
  baseUrl = server.url;

  return {
    url: baseUrl,
    webhookUrl: options.webhook && `${baseUrl}/rest/${options.webhook.userId}/${options.webhook.secret}/`,
    requests: log.entries,
    reset() {
      log.clear();
      faults.clear();
      failures.clear();
      bucket.clear();
      budget.clear();
    },
    expireAccessToken() {
      if (tokens === undefined) throw new Error('bitrix24 emulator: OAuth is not enabled');
      tokens.expireCurrent();
    },
    expireCallerToken(name) {
      if (![...callers.values()].some((caller) => caller.name === name))
        throw new Error(`bitrix24 emulator: no caller token named ${name}`);
      expiredCallers.add(name);
    },
    currentTokens() {
      if (tokens === undefined) throw new Error('bitrix24 emulator: OAuth is not enabled');
      return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken };
    },
    faults,
    failNext(count: number, what: number | HttpFault, error?: string) {
      faults.add(count, typeof what === 'number' ? { kind: 'status', status: what, error } : what);
    },
    failCommand(id, error, description) {
      failures.set(id, description === undefined ? { error } : { error, error_description: description });
    },
    close: () => server.close(),
  };
}
