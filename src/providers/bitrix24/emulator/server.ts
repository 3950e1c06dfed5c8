/**
 * A real HTTP server that plays a strict Bitrix24 portal (`im.user.list.get` and `batch`) plus the OAuth
 * server that refreshes its tokens, over the deterministic demo data (upstreams.md, "Bitrix24 REST").
 *
 * What a client must cope with, as on a real portal: both ways of connecting (an incoming webhook whose URL
 * is the secret, or an OAuth access token in `auth`), JSON or PHP-style form bodies, access tokens that
 * expire and refresh tokens that are single-use, a per-portal leaky bucket answering 503
 * QUERY_LIMIT_EXCEEDED, `batch` that is always HTTP 200 with per-command errors, empty maps serialized
 * as `[]`, and a `time` block on every REST response. Faults (5xx/429, per-command errors) and latency
 * can be injected.
 *
 * Order of checks per REST request: route (404 outside /rest/) → POST only (400) → injected fault
 * → body (400 INVALID_FORMAT) → auth (401, costs no budget) → leaky bucket (503, else one unit is spent;
 * a whole `batch` is one unit) → method (404) → validation (400) → 200.
 * The OAuth endpoint (`GET /oauth/token/`) is another server on the real service: no bucket, no faults.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterLatency } from '../../../emulators/latency.js';
import { startLoopbackServer } from '../../../emulators/loopback-server.js';
import { readBody } from '../../../emulators/read-body.js';
import {
  BITRIX_ID_PATTERN,
  BITRIX_MAX_BATCH_COMMANDS,
  type BitrixApiUser,
  type BitrixBatchResponse,
  type BitrixError,
  type BitrixTime,
  type BitrixTokenResponse,
  type BitrixUserListResponse,
} from '../wire.js';
import { BITRIX_DEMO_MAX_ID, demoBitrixUser, formatBitrixAtom } from './demo-data.js';

export interface Bitrix24EmulatorOptions {
  /** Default 0 (any free port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Enables the webhook form `POST /rest/<userId>/<secret>/<method>`. */
  webhook?: { userId: number; secret: string };
  /** Enables the OAuth form `POST /rest/<method>` with `auth=<token>`, and `GET /oauth/token/`. */
  oauth?: { clientId: string; clientSecret: string; accessToken: string; refreshToken: string; accessTokenTtlSeconds?: number };
  /** Users `1..maxKnownId` exist. Default BITRIX_DEMO_MAX_ID. */
  maxKnownId?: number;
  /** The portal's leaky bucket. Default 2 requests/s, burst 50 (a standard plan). */
  bucket?: { perSecond: number; burst: number };
  /** Artificial delay before every response. Default 0. */
  latencyMs?: number;
  /** Keep every request in `requests` (default true, for tests); the long-running demo turns it off. */
  recordRequests?: boolean;
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
  /** HTTP status sent back; 0 while the response is pending. */
  status: number;
  /** How the REST request tried to authenticate (absent for the OAuth endpoint). */
  auth?: 'webhook' | 'oauth' | 'none';
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
  currentTokens(): { accessToken: string; refreshToken: string };
  /** The next `count` REST requests answer `status` (503 QUERY_LIMIT_EXCEEDED, 429 OPERATION_TIME_LIMIT, 500 INTERNAL_SERVER_ERROR; `error` overrides the code). */
  failNext(count: number, status: 429 | 500 | 503, error?: string): void;
  /** Until reset(): any batch command whose ID list includes `id` ends in result_error with this error. */
  failCommand(id: number, error: string, description?: string): void;
  /** Idempotent; also closes idle keep-alive sockets. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Errors and the `time` block.

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

class OperatingClock {
  private readonly windows = new Map<string, { resetAtS: number; operating: number }>();

  private window(method: string): { resetAtS: number; operating: number } {
    const nowS = Date.now() / 1000;
    let w = this.windows.get(method);
    if (w === undefined || nowS >= w.resetAtS) {
      w = { resetAtS: Math.floor(nowS) + OPERATING_WINDOW_S, operating: 0 };
      this.windows.set(method, w);
    }
    return w;
  }

  /** The `time` block of a call that started at `startMs`; `spend` adds its duration to the method's budget. */
  time(method: string, startMs: number, spend: boolean, operatingOverride?: number): BitrixTime {
    const finishMs = Math.max(Date.now(), startMs);
    const duration = (finishMs - startMs) / 1000;
    const w = this.window(method);
    if (spend) w.operating += duration;
    return {
      start: startMs / 1000,
      finish: finishMs / 1000,
      duration,
      processing: duration,
      date_start: formatBitrixAtom(startMs),
      date_finish: formatBitrixAtom(finishMs),
      operating_reset_at: w.resetAtS,
      operating: operatingOverride ?? w.operating,
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
    const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(name);
    if (m === null || m[1] === undefined) throw invalidFormat(`Malformed parameter name: ${name}`);
    let container = root;
    let key = m[1];
    for (const [, sub = ''] of (m[2] ?? '').matchAll(/\[([^[\]]*)\]/g)) {
      let child = container[key];
      if (child === undefined) container[key] = child = Object.create(null) as Params;
      if (!isObject(child)) throw invalidFormat(`Parameter ${m[1]} is both a value and a list`);
      container = child;
      key = sub === '' ? String(Object.keys(container).length) : sub;
    }
    if (isObject(container[key])) throw invalidFormat(`Parameter ${m[1]} is both a value and a list`);
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

/** The `result` map: one key per distinct id, `null` for an unknown one; an empty map is `[]`. */
function userListResult(call: UserListCall, maxKnownId: number): BitrixUserListResponse['result'] {
  const result: Record<string, BitrixApiUser | null> = {};
  for (const id of call.ids) result[String(id)] = id <= maxKnownId ? demoBitrixUser(id, call.avatarHr) : null;
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
  maxKnownId: number;
  failures: ReadonlyMap<number, BitrixError>;
  clock: OperatingClock;
}

/** Runs `cmd` (an object or list of `method?query` strings); `halt=1` stops at the first failing command. */
function runBatch(params: Params, ctx: BatchContext): BatchOutcome {
  const cmd = params.cmd ?? {};
  if (!isObject(cmd) && !Array.isArray(cmd)) throw invalidFormat('cmd must be a list of commands');
  const entries = Array.isArray(cmd) ? cmd.map((c: unknown, i) => [String(i), c] as const) : Object.entries(cmd);
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
    const startMs = Date.now();
    const method = typeof command === 'string' ? commandMethod(command) : '';
    try {
      if (typeof command !== 'string') throw invalidFormat('A batch command must be a string');
      if (method === 'batch') throw new RestError(405, 'ERROR_BATCH_METHOD_NOT_ALLOWED', 'Method is not allowed for batch usage');
      if (method !== 'im.user.list.get') throw METHOD_NOT_FOUND();
      const q = command.indexOf('?');
      const call = readUserListCall(parseForm(q === -1 ? '' : command.slice(q + 1)));
      ids.push(...call.ids);
      avatarHr ||= call.avatarHr;
      const failure = call.ids.map((id) => ctx.failures.get(id)).find((f) => f !== undefined);
      if (failure) errors[key] = { ...failure };
      else results[key] = userListResult(call, ctx.maxKnownId);
    } catch (err) {
      if (!(err instanceof RestError)) throw err;
      errors[key] = err.body;
    }
    times[key] = ctx.clock.time(method, startMs, results[key] !== undefined);
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
  const q = command.indexOf('?');
  return (q === -1 ? command : command.slice(0, q)).toLowerCase().replace(/\.json$/, '');
}

// ---------------------------------------------------------------------------------------------
// Leaky bucket and OAuth tokens.

/** Each request adds 1; the level drains continuously at `perSecond`; a request that would overflow `burst` is refused. */
class LeakyBucket {
  private level = 0;
  private atMs = Date.now();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {}

  take(): boolean {
    const nowMs = Date.now();
    this.level = Math.max(0, this.level - ((nowMs - this.atMs) / 1000) * this.perSecond);
    this.atMs = nowMs;
    if (this.level + 1 > this.burst) return false;
    this.level += 1;
    return true;
  }

  clear(): void {
    this.level = 0;
    this.atMs = Date.now();
  }
}

type TokenCheck = 'ok' | 'expired' | 'invalid';

/**
 * Issued access tokens stay valid until their own expiry (a refresh does not revoke the previous access
 * token); only the latest refresh token is accepted, each refresh rotating both.
 */
class OAuthTokens {
  private readonly issued = new Map<string, { expiresAtMs: number; revoked: boolean }>();
  private generation = 0;
  accessToken: string;
  refreshToken: string;

  constructor(
    private readonly ttlSeconds: number,
    accessToken: string,
    refreshToken: string,
  ) {
    this.accessToken = accessToken;
    this.refreshToken = refreshToken;
    this.issued.set(accessToken, { expiresAtMs: Date.now() + ttlSeconds * 1000, revoked: false });
  }

  check(token: string): TokenCheck {
    const t = this.issued.get(token);
    if (t === undefined) return 'invalid';
    return t.revoked || Date.now() >= t.expiresAtMs ? 'expired' : 'ok';
  }

  expireCurrent(): void {
    const t = this.issued.get(this.accessToken);
    if (t) t.revoked = true;
  }

  /** Issues a new pair; returns the new access token's expiry (epoch ms). */
  rotate(): number {
    this.generation++;
    const suffix = `${this.generation}_${randomBytes(12).toString('hex')}`;
    this.accessToken = `emu_access_${suffix}`;
    this.refreshToken = `emu_refresh_${suffix}`;
    const expiresAtMs = Date.now() + this.ttlSeconds * 1000;
    this.issued.set(this.accessToken, { expiresAtMs, revoked: false });
    return expiresAtMs;
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

interface Fault {
  status: 429 | 500 | 503;
  error: string | undefined;
}

const FAULT_BODIES: Record<Fault['status'], BitrixError> = {
  503: { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' },
  429: { error: 'OPERATION_TIME_LIMIT', error_description: 'Method is blocked due to operation time limit.' },
  500: { error: 'INTERNAL_SERVER_ERROR', error_description: 'Internal server error' },
};

/** `operating` reported with an injected 429: past the 480 s per 10 min budget. */
const EXHAUSTED_OPERATING_S = 480.5;

const JSON_CT = 'application/json; charset=utf-8';

export async function startBitrix24Emulator(options: Bitrix24EmulatorOptions): Promise<Bitrix24Emulator> {
  const host = options.host ?? '127.0.0.1';
  const latencyMs = options.latencyMs ?? 0;
  const maxKnownId = options.maxKnownId ?? BITRIX_DEMO_MAX_ID;
  const bucket = new LeakyBucket(options.bucket?.perSecond ?? 2, options.bucket?.burst ?? 50);
  const clock = new OperatingClock();
  const oauth = options.oauth;
  const tokens = oauth && new OAuthTokens(oauth.accessTokenTtlSeconds ?? 3600, oauth.accessToken, oauth.refreshToken);
  const requests: Bitrix24EmulatorRequest[] = [];
  const faults: Fault[] = [];
  const failures = new Map<number, BitrixError>();
  const timers = new Set<NodeJS.Timeout>();
  let baseUrl = '';

  function send(
    res: ServerResponse,
    record: Bitrix24EmulatorRequest,
    status: number,
    body: unknown,
    headers?: Record<string, string>,
  ): void {
    record.status = status;
    const text = JSON.stringify(body);
    const write = (): void => {
      if (res.destroyed) return;
      res.writeHead(status, { ...headers, 'content-type': JSON_CT, 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    afterLatency(latencyMs, timers, write);
  }

  /** `GET /oauth/token/?grant_type=refresh_token&client_id&client_secret&refresh_token`. */
  function token(req: IncomingMessage, query: string): { status: number; body: unknown } {
    if (oauth === undefined || tokens === undefined)
      return { status: 404, body: { error: 'not_found', error_description: 'OAuth is not enabled' } };
    if (req.method !== 'GET') return { status: 400, body: { error: 'invalid_request', error_description: 'Use GET' } };
    const q = new URLSearchParams(query);
    if (q.get('grant_type') !== 'refresh_token') {
      return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'Only grant_type=refresh_token is supported' } };
    }
    if (q.get('client_id') !== oauth.clientId || q.get('client_secret') !== oauth.clientSecret) {
      return { status: 401, body: { error: 'invalid_client', error_description: 'Invalid client credentials' } };
    }
    if (q.get('refresh_token') !== tokens.refreshToken) {
      return { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid refresh token' } };
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
    return { status: 200, body };
  }

  /** Authenticates a REST call; throws the 401 to send. */
  function authenticate(r: Extract<Route, { kind: 'rest' }>, params: Params, record: Bitrix24EmulatorRequest): void {
    if (r.webhook) {
      record.auth = 'webhook';
      const wh = options.webhook;
      if (wh === undefined || r.webhook.userId !== String(wh.userId) || r.webhook.secret !== wh.secret) throw NO_AUTH();
      return;
    }
    const auth = params.auth;
    record.auth = typeof auth === 'string' && auth !== '' ? 'oauth' : 'none';
    if (typeof auth !== 'string' || auth === '') throw NO_AUTH();
    const check = tokens?.check(auth) ?? 'invalid';
    if (check === 'expired') throw new RestError(401, 'expired_token', 'The access token provided has expired.');
    if (check === 'invalid') throw new RestError(401, 'invalid_token', 'The access token provided is invalid.');
  }

  /** A REST call that passed auth and the bucket: the method's 200 body, or a RestError. */
  function call(method: string, params: Params, record: Bitrix24EmulatorRequest): Record<string, unknown> {
    if (method === 'im.user.list.get') {
      const c = readUserListCall(params);
      record.ids = c.ids;
      record.avatarHr = c.avatarHr;
      return { result: userListResult(c, maxKnownId) };
    }
    if (method === 'batch') {
      const outcome = runBatch(params, { maxKnownId, failures, clock });
      record.commands = outcome.commands;
      record.ids = outcome.ids;
      record.avatarHr = outcome.avatarHr;
      return { result: outcome.result };
    }
    throw METHOD_NOT_FOUND();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startMs = Date.now();
    const rawUrl = req.url ?? '/';
    const qi = rawUrl.indexOf('?');
    const path = qi === -1 ? rawUrl : rawUrl.slice(0, qi);
    const query = qi === -1 ? '' : rawUrl.slice(qi + 1);
    const r = route(path);
    const record: Bitrix24EmulatorRequest = {
      method: r.kind === 'token' ? 'oauth.token' : r.kind === 'rest' ? r.method : '',
      path: redactPath(path),
      status: 0,
    };
    if (options.recordRequests ?? true) requests.push(record);
    const body = await readBody(req, MAX_BODY_BYTES);

    if (r.kind === 'token') {
      const answer = token(req, query);
      return send(res, record, answer.status, answer.body);
    }
    const method = r.kind === 'rest' ? r.method : '';
    const fail = (err: RestError, operating?: number): void =>
      send(res, record, err.status, { ...err.body, time: clock.time(method, startMs, false, operating) });

    if (r.kind === 'none') return fail(METHOD_NOT_FOUND());
    if (req.method !== 'POST') return fail(invalidFormat('Only POST is accepted'));

    const fault = faults.shift();
    if (fault) {
      const b = FAULT_BODIES[fault.status];
      const err = new RestError(fault.status, fault.error ?? b.error, b.error_description ?? '');
      return fail(err, fault.status === 429 ? EXHAUSTED_OPERATING_S : undefined);
    }

    try {
      if (body === undefined) throw invalidFormat('The request body is too large');
      const params = parseParams(req.headers['content-type'], body, query);
      authenticate(r, params, record);
      if (!bucket.take()) throw new RestError(503, 'QUERY_LIMIT_EXCEEDED', 'Too many requests');
      const answer = call(method, params, record);
      send(res, record, 200, { ...answer, time: clock.time(method, startMs, true) });
    } catch (err) {
      if (!(err instanceof RestError)) throw err;
      fail(err);
    }
  }

  const server = await startLoopbackServer({
    name: 'bitrix24 emulator',
    port: options.port,
    host,
    handle,
    timers,
    internalError: (res) => {
      res.writeHead(500, { 'content-type': JSON_CT });
      res.end(JSON.stringify(FAULT_BODIES[500]));
    },
  });
  baseUrl = server.url;

  return {
    url: baseUrl,
    webhookUrl: options.webhook && `${baseUrl}/rest/${options.webhook.userId}/${options.webhook.secret}/`,
    requests,
    reset() {
      requests.length = 0;
      faults.length = 0;
      failures.clear();
      bucket.clear();
      clock.clear();
    },
    expireAccessToken() {
      if (tokens === undefined) throw new Error('bitrix24 emulator: OAuth is not enabled');
      tokens.expireCurrent();
    },
    currentTokens() {
      if (tokens === undefined) throw new Error('bitrix24 emulator: OAuth is not enabled');
      return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken };
    },
    failNext(count, status, error) {
      for (let i = 0; i < count; i++) faults.push({ status, error });
    },
    failCommand(id, error, description) {
      failures.set(id, description === undefined ? { error } : { error, error_description: description });
    },
    close: () => server.close(),
  };
}
