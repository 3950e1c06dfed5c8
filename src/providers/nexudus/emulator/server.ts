/**
 * A real HTTP server that plays the part of Nexudus this subgraph uses (upstreams.md, "Nexudus"): the
 * OWIN OAuth token endpoint and the two ASP.NET Web API user lookups, over the deterministic demo data.
 *
 * What a client must cope with, as on the real service:
 * - `POST /api/token` takes a form (`application/x-www-form-urlencoded`) only. Anything else reads as
 *   an empty form, which OWIN answers 400 `{"error":"unsupported_grant_type"}` (no description), as it
 *   does for an unknown grant. Wrong credentials: 400 invalid_grant "The user name or password is
 *   incorrect."; an unknown or already used refresh token: 400 `{"error":"invalid_grant"}`.
 *   Refresh tokens are single-use (the usual OWIN refresh provider removes the ticket it redeems) and
 *   never expire; access tokens expire after `tokenTtlSeconds` (or at `expireTokens()`), and a refresh
 *   does not revoke earlier access tokens (OWIN bearer tokens are self-contained).
 * - `GET /api/sys/users/?id=[1,2,3]` answers a bare array of PARTIAL records (demo-data.ts), known ids
 *   only, deduplicated, in reverse request order. `GET /api/sys/users/{id}` answers the full record.
 * - Auth failures are 401 `{"Message":"Authorization has been denied for this request."}`.
 * - Throttling is 409 with `Retry-After: 1` and an EMPTY body, per token, on the two user endpoints:
 *   a request within `minIntervalMs` of the token's previous accepted one, or beyond `perMinute` /
 *   `perHour` accepted ones in the sliding minute / hour, is refused. Refused requests spend nothing.
 *   The 200 000/day cap is not emulated.
 * - Web API error bodies are `{"Message": ...}`; an injected 503 is HTTP.sys' HTML page, not JSON.
 *
 * Order of checks on the user endpoints: route (404) → GET only (405) → injected fault → auth (401)
 * → throttle (409, else one request is spent) → id validation (400) → 200, or 404 for an unknown id.
 * The token endpoint is never throttled and never gets injected faults.
 * Choices where the documentation is silent: `id=[]`, spaces, signs or leading zeros in the list, and a
 * repeated `id` parameter are 400; `GET /api/sys/users` without `id` (the paginated search) is not
 * emulated and answers 404.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterLatency } from '../../../emulators/latency.js';
import { startLoopbackServer } from '../../../emulators/loopback-server.js';
import { readBody } from '../../../emulators/read-body.js';
import { NEXUDUS_ID_PATTERN, type NexudusApiMessage, type NexudusTokenError, type NexudusTokenResponse } from '../wire.js';
import { demoNexudusUser, NEXUDUS_DEMO_MAX_ID, partialNexudusUser } from './demo-data.js';

export interface NexudusThrottle {
  minIntervalMs: number;
  perMinute: number;
  perHour: number;
}

export interface NexudusEmulatorOptions {
  /** Default 0 (any free port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The credentials the password grant accepts. */
  username: string;
  password: string;
  /** A pre-issued bearer token accepted as is (like NEXUDUS_TOKEN); it never expires. */
  staticToken?: string;
  /** Lifetime of issued access tokens. Default 604799 (7 days less a second, as on the real service). */
  tokenTtlSeconds?: number;
  /** Users `1..maxKnownId` exist. Default NEXUDUS_DEMO_MAX_ID. */
  maxKnownId?: number;
  /** Per-token limits on the user endpoints; `false` turns throttling off. Default { 100, 120, 5000 }. */
  throttle?: NexudusThrottle | false;
  /** Artificial delay before every response. Default 0. */
  latencyMs?: number;
  /** Keep every request in `requests` (default true, for tests); the long-running demo turns it off. */
  recordRequests?: boolean;
}

export interface NexudusEmulatorRequest {
  /** `token`: POST /api/token; `list`: /api/sys/users/?id=..; `single`: /api/sys/users/{id}; else `other`. */
  kind: 'token' | 'list' | 'single' | 'other';
  /** HTTP method. */
  method: string;
  /** Request path without the query string (never a secret: credentials travel in bodies and headers). */
  path: string;
  /** `list`: the ids asked for, in request order (when the list parsed); `single`: the id (when valid). */
  ids?: number[];
  /** `token`: the grant_type sent, if any. */
  grantType?: string;
  /** HTTP status sent back; 0 while the response is pending (e.g. during `latencyMs`). */
  status: number;
}

export interface NexudusEmulator {
  /** e.g. http://127.0.0.1:PORT (no trailing slash); the client's NEXUDUS_BASE_URL. */
  url: string;
  /** Every request received, in arrival order, token requests included. */
  requests: NexudusEmulatorRequest[];
  /** Clears `requests`, injected faults and the throttle windows. Tokens stay valid. */
  reset(): void;
  /** Every access token issued so far (not `staticToken`) answers 401 from now on; refresh tokens stay valid. */
  expireTokens(): void;
  /** The next `count` user-endpoint requests answer `status` (409 as throttling: `Retry-After: 1`, empty body). */
  failNext(count: number, status: 409 | 500 | 503): void;
  /** Idempotent; also closes idle keep-alive sockets. */
  close(): Promise<void>;
}

const DEFAULT_THROTTLE: NexudusThrottle = { minIntervalMs: 100, perMinute: 120, perHour: 5000 };
const DEFAULT_TOKEN_TTL_S = 604_799;

// ---------------------------------------------------------------------------------------------
// Tokens.

/**
 * Issued access tokens (with their expiry) and the refresh tokens not yet redeemed. Tokens are derived
 * from a counter through SHA-256: opaque-looking, yet the same sequence in every emulator run.
 */
class TokenStore {
  private readonly access = new Map<string, { expiresAtMs: number; revoked: boolean }>();
  private readonly refresh = new Set<string>();
  private issued = 0;

  constructor(private readonly ttlSeconds: number) {}

  issue(): NexudusTokenResponse {
    this.issued++;
    const derive = (kind: string): string => createHash('sha256').update(`nexudus-emulator:${kind}:${this.issued}`).digest('base64url');
    const accessToken = derive('access') + derive('access-tail');
    const refreshToken = derive('refresh').replace(/[-_]/g, '').slice(0, 32).toLowerCase();
    this.access.set(accessToken, { expiresAtMs: Date.now() + this.ttlSeconds * 1000, revoked: false });
    this.refresh.add(refreshToken);
    return { access_token: accessToken, token_type: 'bearer', expires_in: this.ttlSeconds, refresh_token: refreshToken };
  }

  isValid(token: string): boolean {
    const t = this.access.get(token);
    return t !== undefined && !t.revoked && Date.now() < t.expiresAtMs;
  }

  /** Redeems a refresh token: true once, then it is gone. */
  redeem(refreshToken: string): boolean {
    return this.refresh.delete(refreshToken);
  }

  expireAll(): void {
    for (const t of this.access.values()) t.revoked = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Throttling.

/** Accepted-request times per token: the last one, and those within the sliding minute / hour. */
class Throttle {
  private readonly windows = new Map<string, { lastMs: number; minute: number[]; hour: number[] }>();

  constructor(private readonly limits: NexudusThrottle) {}

  /** Spends one request for `key`, or returns false (nothing spent) when a limit says no. */
  take(key: string): boolean {
    const nowMs = Date.now();
    let w = this.windows.get(key);
    if (w === undefined) {
      w = { lastMs: -Infinity, minute: [], hour: [] };
      this.windows.set(key, w);
    }
    prune(w.minute, nowMs - 60_000);
    prune(w.hour, nowMs - 3_600_000);
    if (nowMs - w.lastMs < this.limits.minIntervalMs) return false;
    if (w.minute.length >= this.limits.perMinute || w.hour.length >= this.limits.perHour) return false;
    w.lastMs = nowMs;
    w.minute.push(nowMs);
    w.hour.push(nowMs);
    return true;
  }

  clear(): void {
    this.windows.clear();
  }
}

/** Drops the (sorted) times at or before `cutoffMs`. */
function prune(times: number[], cutoffMs: number): void {
  let n = 0;
  while (n < times.length && (times[n] ?? Infinity) <= cutoffMs) n++;
  if (n > 0) times.splice(0, n);
}

// ---------------------------------------------------------------------------------------------
// Routing and parsing.

type Route = { kind: 'token' } | { kind: 'list'; query: URLSearchParams } | { kind: 'single'; segment: string } | { kind: 'other' };

/** ASP.NET routes are case-insensitive and ignore a trailing slash. */
function route(path: string, query: string): Route {
  const p = path.toLowerCase().replace(/\/+$/, '');
  if (p === '/api/token') return { kind: 'token' };
  if (p === '/api/sys/users') {
    const q = new URLSearchParams(query);
    return q.has('id') ? { kind: 'list', query: q } : { kind: 'other' };
  }
  const single = /^\/api\/sys\/users\/([^/]+)$/.exec(p);
  if (single?.[1] !== undefined) return { kind: 'single', segment: safeDecode(single[1]) };
  return { kind: 'other' };
}

/** A malformed escape (`%zz`) decodes to '' (an invalid id) instead of throwing. */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
}

/** `[1,2,3]` (already URL-decoded) → ids; undefined when malformed (empty, spaces, non-canonical ids). */
function parseIdList(value: string): number[] | undefined {
  const m = /^\[(.*)\]$/.exec(value);
  if (m?.[1] === undefined || m[1] === '') return undefined;
  const ids: number[] = [];
  for (const item of m[1].split(',')) {
    if (!NEXUDUS_ID_PATTERN.test(item)) return undefined;
    ids.push(Number(item));
  }
  return ids;
}

/** The bearer token of `Authorization: Bearer <token>`, if any. */
function bearerToken(req: IncomingMessage): string | undefined {
  const m = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

const MAX_BODY_BYTES = 64 * 1024;

/** The form OWIN reads: the body when it is form-encoded, otherwise nothing. */
function readForm(req: IncomingMessage, body: string | undefined): URLSearchParams {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  return type === 'application/x-www-form-urlencoded' && body !== undefined ? new URLSearchParams(body) : new URLSearchParams();
}

// ---------------------------------------------------------------------------------------------
// Answers.

interface Answer {
  status: number;
  /** JSON-serialised unless `raw` is set; undefined for an empty body. */
  body?: unknown;
  raw?: { contentType: string; text: string };
  headers?: Record<string, string>;
}

const message = (status: number, text: string, headers?: Record<string, string>): Answer => ({
  status,
  body: { Message: text } satisfies NexudusApiMessage,
  headers,
});

const tokenError = (error: string, description?: string): Answer => ({
  status: 400,
  body: (description === undefined ? { error } : { error, error_description: description }) satisfies NexudusTokenError,
  headers: TOKEN_HEADERS,
});

/** OWIN marks every token endpoint answer uncacheable. */
const TOKEN_HEADERS = { 'cache-control': 'no-cache', pragma: 'no-cache', expires: '-1' };

const DENIED = (): Answer => message(401, 'Authorization has been denied for this request.', { 'www-authenticate': 'Bearer' });
const INVALID = (): Answer => message(400, 'The request is invalid.');
const THROTTLED = (): Answer => ({ status: 409, headers: { 'retry-after': '1' } });

/** What HTTP.sys sends when the application pool is down. */
const SERVICE_UNAVAILABLE_HTML =
  '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">\r\n' +
  '<HTML><HEAD><TITLE>Service Unavailable</TITLE>\r\n<META HTTP-EQUIV="Content-Type" Content="text/html; charset=us-ascii"></HEAD>\r\n' +
  '<BODY><h2>Service Unavailable</h2>\r\n<hr><p>HTTP Error 503. The service is unavailable.</p>\r\n</BODY></HTML>\r\n';

function faultAnswer(status: 409 | 500 | 503): Answer {
  if (status === 409) return THROTTLED();
  if (status === 500) return message(500, 'An error has occurred.');
  return { status: 503, raw: { contentType: 'text/html; charset=us-ascii', text: SERVICE_UNAVAILABLE_HTML } };
}

const JSON_CT = 'application/json; charset=utf-8';

// ---------------------------------------------------------------------------------------------
// Server.

export async function startNexudusEmulator(options: NexudusEmulatorOptions): Promise<NexudusEmulator> {
  const host = options.host ?? '127.0.0.1';
  const latencyMs = options.latencyMs ?? 0;
  const maxKnownId = options.maxKnownId ?? NEXUDUS_DEMO_MAX_ID;
  const limits = options.throttle === undefined ? DEFAULT_THROTTLE : options.throttle;
  const throttle = limits === false ? undefined : new Throttle(limits);
  const tokens = new TokenStore(options.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_S);
  const requests: NexudusEmulatorRequest[] = [];
  const faults: (409 | 500 | 503)[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let baseUrl = '';

  function send(res: ServerResponse, record: NexudusEmulatorRequest, answer: Answer): void {
    const text = answer.raw?.text ?? (answer.body === undefined ? '' : JSON.stringify(answer.body));
    const headers: Record<string, string | number> = { ...answer.headers, 'content-length': Buffer.byteLength(text) };
    if (text !== '') headers['content-type'] = answer.raw?.contentType ?? JSON_CT;
    const write = (): void => {
      if (res.destroyed) return;
      record.status = answer.status;
      res.writeHead(answer.status, headers);
      res.end(text);
    };
    afterLatency(latencyMs, timers, write);
  }

  /** `POST /api/token`: the password and refresh_token grants. */
  function token(req: IncomingMessage, body: string | undefined, record: NexudusEmulatorRequest): Answer {
    const form = readForm(req, req.method === 'POST' ? body : undefined);
    const grant = form.get('grant_type');
    if (grant !== null) record.grantType = grant;
    if (grant === 'password') {
      if (form.get('username') !== options.username || form.get('password') !== options.password) {
        return tokenError('invalid_grant', 'The user name or password is incorrect.');
      }
    } else if (grant === 'refresh_token') {
      const refresh = form.get('refresh_token');
      if (refresh === null || !tokens.redeem(refresh)) return tokenError('invalid_grant');
    } else {
      return tokenError('unsupported_grant_type');
    }
    return { status: 200, body: tokens.issue(), headers: TOKEN_HEADERS };
  }

  /** The two user endpoints, after routing and the method check. */
  function users(req: IncomingMessage, r: Extract<Route, { kind: 'list' | 'single' }>, record: NexudusEmulatorRequest): Answer {
    const fault = faults.shift();
    if (fault !== undefined) return faultAnswer(fault);

    const bearer = bearerToken(req);
    const valid = bearer !== undefined && ((options.staticToken !== undefined && bearer === options.staticToken) || tokens.isValid(bearer));
    if (bearer === undefined || !valid) return DENIED();
    if (throttle !== undefined && !throttle.take(bearer)) return THROTTLED();

    if (r.kind === 'single') {
      if (!NEXUDUS_ID_PATTERN.test(r.segment)) return INVALID();
      const id = Number(r.segment);
      record.ids = [id];
      if (id > maxKnownId) return message(404, `No HTTP resource was found that matches the request URI '${baseUrl}${record.path}'.`);
      return { status: 200, body: demoNexudusUser(id) };
    }

    const values = r.query.getAll('id');
    const ids = values.length === 1 ? parseIdList(values[0] ?? '') : undefined;
    if (ids === undefined) return INVALID();
    record.ids = ids;
    const known = [...new Set(ids)].filter((id) => id <= maxKnownId).reverse();
    return { status: 200, body: known.map((id) => partialNexudusUser(demoNexudusUser(id))) };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    const qi = rawUrl.indexOf('?');
    const path = qi === -1 ? rawUrl : rawUrl.slice(0, qi);
    const r = route(path, qi === -1 ? '' : rawUrl.slice(qi + 1));
    const method = req.method ?? 'GET';
    const record: NexudusEmulatorRequest = { kind: r.kind, method, path, status: 0 };
    if (options.recordRequests ?? true) requests.push(record);
    const body = await readBody(req, MAX_BODY_BYTES);

    if (r.kind === 'token') return send(res, record, token(req, body, record));
    if (r.kind === 'other')
      return send(res, record, message(404, `No HTTP resource was found that matches the request URI '${baseUrl}${rawUrl}'.`));
    if (method !== 'GET') {
      return send(res, record, message(405, `The requested resource does not support http method '${method}'.`, { allow: 'GET' }));
    }
    send(res, record, users(req, r, record));
  }

  const server = await startLoopbackServer({
    name: 'nexudus emulator',
    port: options.port,
    host,
    handle,
    timers,
    internalError: (res) => {
      res.writeHead(500, { 'content-type': JSON_CT });
      res.end(JSON.stringify({ Message: 'An error has occurred.' }));
    },
  });
  baseUrl = server.url;

  return {
    url: baseUrl,
    requests,
    reset() {
      requests.length = 0;
      faults.length = 0;
      throttle?.clear();
    },
    expireTokens() {
      tokens.expireAll();
    },
    failNext(count, status) {
      for (let i = 0; i < count; i++) faults.push(status);
    },
    close: () => server.close(),
  };
}
