/**
 * A real HTTP server that plays the part of Nexudus this subgraph uses: the OWIN OAuth token endpoint
 * and the two ASP.NET Web API user lookups, over the deterministic demo data.
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
 *   The 200 000/day cap is not emulated. Token expiry and the throttle windows read the injected `clock`.
 * - Web API error bodies are `{"Message": ...}`; an injected 503 is HTTP.sys' HTML page, not JSON.
 *   The shared `HttpFault`s (resets, truncated, HTML or oversize bodies, slow answers) can be injected too.
 *
 * Order of checks on the user endpoints: route (404) → GET only (405) → injected fault → auth (401)
 * → throttle (409, else one request is spent) → id validation (400) → 200, or 404 for an unknown id.
 * An injected `status`, `html` or `oversize` fault answers instead of the rest; `slow`, `reset` and
 * `truncated-json` break the answer the request gets after every check.
 * The token endpoint is never throttled and never gets injected faults.
 * Choices where the documentation is silent: `id=[]`, spaces, signs or leading zeros in the list, and a
 * repeated `id` parameter are 400; `GET /api/sys/users` without `id` (the paginated search) is not
 * emulated and answers 404.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type EmulatorClock, systemEmulatorClock } from '../../../emulators/clock.js';
import { FaultQueue, type HttpFault } from '../../../emulators/fault-queue.js';
import { IssuedTokens } from '../../../emulators/issued-tokens.js';
import { startLoopbackServer } from '../../../emulators/loopback-server.js';
import type { HttpEmulatorOptions } from '../../../emulators/options.js';
import { readBody } from '../../../emulators/read-body.js';
import { faultReply, jsonReply, type Reply, ReplySender } from '../../../emulators/reply.js';
import { RequestLog } from '../../../emulators/request-log.js';
import { splitRequestUrl } from '../../../emulators/request-url.js';
import { SlidingWindows } from '../../../emulators/sliding-window.js';
import { NEXUDUS_ID_PATTERN } from '../wire.js';
import { demoNexudusUser, NEXUDUS_DEMO_MAX_ID, partialNexudusUser } from './demo-data.js';
import type { NexudusApiMessage, NexudusTokenError, NexudusTokenResponse } from './wire-extras.js';

export interface NexudusThrottle {
  minIntervalMs: number;
  perMinute: number;
  perHour: number;
}

export interface NexudusEmulatorOptions extends HttpEmulatorOptions {
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
  /** HTTP status sent back; 0 while the response is pending (e.g. during `latencyMs`) or never sent. */
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
  /**
   * The next `count` user-endpoint requests get `fault`. A `status` fault answers Nexudus's own body:
   * 409 throttling, 401 denied, 503 HTTP.sys' HTML page, any other status `{"Message": ...}`.
   */
  failNext(count: number, fault: HttpFault): void;
  /** The injected faults themselves, for faults on one route (`list` or `single`) or standing ones. */
  readonly faults: FaultQueue<HttpFault>;
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
  private readonly access: IssuedTokens;
  private readonly refresh = new Set<string>();
  private issued = 0;

  constructor(
    private readonly ttlSeconds: number,
    clock: EmulatorClock,
  ) {
    this.access = new IssuedTokens(ttlSeconds, clock);
  }

  issue(): NexudusTokenResponse {
    this.issued++;
    const derive = (kind: string): string => createHash('sha256').update(`nexudus-emulator:${kind}:${this.issued}`).digest('base64url');
    const accessToken = derive('access') + derive('access-tail');
    const refreshToken = derive('refresh').replace(/[-_]/g, '').slice(0, 32).toLowerCase();
    this.access.issue(accessToken);
    this.refresh.add(refreshToken);
    return { access_token: accessToken, token_type: 'bearer', expires_in: this.ttlSeconds, refresh_token: refreshToken };
  }

  isValid(token: string): boolean {
    return this.access.check(token) === 'valid';
  }

  /** Redeems a refresh token: true once, then it is gone. */
  redeem(refreshToken: string): boolean {
    return this.refresh.delete(refreshToken);
  }

  expireAll(): void {
    this.access.revokeAll();
  }
}

// ---------------------------------------------------------------------------------------------
// Throttling.

/**
 * Per token: a request within `minIntervalMs` of the previous accepted one, or beyond `perMinute` /
 * `perHour` accepted ones in the sliding minute / hour, is refused.
 */
function throttleWindows(limits: NexudusThrottle, clock: EmulatorClock): SlidingWindows {
  return new SlidingWindows(
    [
      { count: 1, windowMs: limits.minIntervalMs },
      { count: limits.perMinute, windowMs: 60_000 },
      { count: limits.perHour, windowMs: 3_600_000 },
    ],
    clock,
  );
}

// ---------------------------------------------------------------------------------------------
// Routing and parsing.

type Route = { kind: 'token' } | { kind: 'list'; query: URLSearchParams } | { kind: 'single'; segment: string } | { kind: 'other' };

/** ASP.NET routes are case-insensitive and ignore a trailing slash. */
function route(path: string, query: string): Route {
  const normalized = path.toLowerCase().replace(/\/+$/, '');
  if (normalized === '/api/token') return { kind: 'token' };
  if (normalized === '/api/sys/users') {
    const params = new URLSearchParams(query);
    return params.has('id') ? { kind: 'list', query: params } : { kind: 'other' };
  }
  const single = /^\/api\/sys\/users\/([^/]+)$/.exec(normalized);
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
  const inside = /^\[(.*)\]$/.exec(value)?.[1];
  if (inside === undefined || inside === '') return undefined;
  const ids: number[] = [];
  for (const item of inside.split(',')) {
    if (!NEXUDUS_ID_PATTERN.test(item)) return undefined;
    ids.push(Number(item));
  }
  return ids;
}

/** The bearer token of `Authorization: Bearer <token>`, if any. */
function bearerToken(req: IncomingMessage): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
}

const MAX_BODY_BYTES = 64 * 1024;

/** The form OWIN reads: the body when it is form-encoded, otherwise nothing. */
function readForm(req: IncomingMessage, body: string | undefined): URLSearchParams {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  return type === 'application/x-www-form-urlencoded' && body !== undefined ? new URLSearchParams(body) : new URLSearchParams();
}

// ---------------------------------------------------------------------------------------------
// Answers.

/** OWIN marks every token endpoint answer uncacheable. */
const TOKEN_HEADERS = { 'cache-control': 'no-cache', pragma: 'no-cache', expires: '-1' };

/** A Web API answer with its `{"Message": ...}` body. */
const message = (status: number, text: string, headers?: Record<string, string>): Reply =>
  jsonReply(status, { Message: text } satisfies NexudusApiMessage, headers);

const tokenError = (error: string, description?: string): Reply =>
  jsonReply(
    400,
    (description === undefined ? { error } : { error, error_description: description }) satisfies NexudusTokenError,
    TOKEN_HEADERS,
  );

const DENIED = (): Reply => message(401, 'Authorization has been denied for this request.', { 'www-authenticate': 'Bearer' });
const INVALID = (): Reply => message(400, 'The request is invalid.');
const THROTTLED = (): Reply => ({ status: 409, body: '', headers: { 'retry-after': '1' } });

/** What HTTP.sys sends when the application pool is down. */
const SERVICE_UNAVAILABLE_HTML =
  '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">\r\n' +
  '<HTML><HEAD><TITLE>Service Unavailable</TITLE>\r\n<META HTTP-EQUIV="Content-Type" Content="text/html; charset=us-ascii"></HEAD>\r\n' +
  '<BODY><h2>Service Unavailable</h2>\r\n<hr><p>HTTP Error 503. The service is unavailable.</p>\r\n</BODY></HTML>\r\n';

/** Nexudus's own answer with `status`, for an injected `status` fault. */
function statusReply(status: number): Reply {
  if (status === 409) return THROTTLED();
  if (status === 401) return DENIED();
  if (status === 503) return { status: 503, contentType: 'text/html; charset=us-ascii', body: SERVICE_UNAVAILABLE_HTML };
  return message(status, 'An error has occurred.');
}

// ---------------------------------------------------------------------------------------------
// Server.

export async function startNexudusEmulator(options: NexudusEmulatorOptions): Promise<NexudusEmulator> {
  const clock = options.clock ?? systemEmulatorClock;
  const maxKnownId = options.maxKnownId ?? NEXUDUS_DEMO_MAX_ID;
  const limits = options.throttle === undefined ? DEFAULT_THROTTLE : options.throttle;
  const throttle = limits === false ? undefined : throttleWindows(limits, clock);
  const tokens = new TokenStore(options.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_S, clock);
  const log = new RequestLog<NexudusEmulatorRequest>(options.recordRequests ?? true);
  const faults = new FaultQueue<HttpFault>();
  const sender = new ReplySender(options.latencyMs);
  let baseUrl = '';

  /** `POST /api/token`: the password and refresh_token grants. */
  function token(req: IncomingMessage, body: string | undefined, record: NexudusEmulatorRequest): Reply {
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
    return jsonReply(200, tokens.issue(), TOKEN_HEADERS);
  }

  /** The two user endpoints, after routing and the method check. */
  function users(req: IncomingMessage, target: Extract<Route, { kind: 'list' | 'single' }>, record: NexudusEmulatorRequest): Reply {
    const fault = faults.next(target.kind);
    if (fault !== undefined) return faultReply(fault, { own: statusReply, normal: () => lookup(req, target, record) });
    return lookup(req, target, record);
  }

  /** A user-endpoint request no fault was injected for: auth, throttle, validation, the records. */
  function lookup(req: IncomingMessage, target: Extract<Route, { kind: 'list' | 'single' }>, record: NexudusEmulatorRequest): Reply {
    const bearer = bearerToken(req);
    const valid = bearer !== undefined && ((options.staticToken !== undefined && bearer === options.staticToken) || tokens.isValid(bearer));
    if (bearer === undefined || !valid) return DENIED();
    if (throttle !== undefined && !throttle.take(bearer)) return THROTTLED();

    if (target.kind === 'single') {
      if (!NEXUDUS_ID_PATTERN.test(target.segment)) return INVALID();
      const id = Number(target.segment);
      record.ids = [id];
      if (id > maxKnownId) return message(404, `No HTTP resource was found that matches the request URI '${baseUrl}${record.path}'.`);
      return jsonReply(200, demoNexudusUser(id));
    }

    const values = target.query.getAll('id');
    const ids = values.length === 1 ? parseIdList(values[0] ?? '') : undefined;
    if (ids === undefined) return INVALID();
    record.ids = ids;
    const known = [...new Set(ids)].filter((id) => id <= maxKnownId).reverse();
    return jsonReply(
      200,
      known.map((id) => partialNexudusUser(demoNexudusUser(id))),
    );
  }

  function answer(req: IncomingMessage, target: Route, url: string, body: string | undefined, record: NexudusEmulatorRequest): Reply {
    if (target.kind === 'token') return token(req, body, record);
    if (target.kind === 'other') return message(404, `No HTTP resource was found that matches the request URI '${baseUrl}${url}'.`);
    if (record.method !== 'GET') {
      return message(405, `The requested resource does not support http method '${record.method}'.`, { allow: 'GET' });
    }
    return users(req, target, record);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { path, query } = splitRequestUrl(req.url);
    const target = route(path, query);
    const record = log.add({ kind: target.kind, method: req.method ?? 'GET', path, status: 0 });
    const body = await readBody(req, MAX_BODY_BYTES);
    sender.send(res, answer(req, target, req.url ?? '/', body, record), record);
  }

  const server = await startLoopbackServer({
    name: 'nexudus emulator',
    port: options.port,
    host: options.host,
    handle,
    timers: sender.timers,
    internalError: message(500, 'An error has occurred.'),
  });
  baseUrl = server.url;

  return {
    url: baseUrl,
    requests: log.entries,
    reset() {
      log.clear();
      faults.clear();
      throttle?.clear();
    },
    expireTokens() {
      tokens.expireAll();
    },
    faults,
    failNext(count: number, what: number | HttpFault) {
      faults.add(count, typeof what === 'number' ? { kind: 'status', status: what } : what);
    },
    close: () => server.close(),
  };
}
