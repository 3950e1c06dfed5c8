import { timingSafeEqual } from 'node:crypto';
import { HeaderMap } from '@apollo/server';
import { GraphQLError, type GraphQLErrorExtensions } from 'graphql';
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from 'jose';
import type { Logger } from 'pino';
import { ANONYMOUS, type Caller } from './caller.js';
import { type AuthConfig, sha256 } from './config.js';

/** What `identify` reads: a request's headers, names in lower case. */
export interface RequestHeaders {
  get(name: string): string | undefined;
}

export type Identify = (headers: RequestHeaders) => Promise<Caller>;

/**
 * The caller of a request, from the credentials it sends: the shared secret in its header, a JWT in
 * `Authorization: Bearer`, both (the scopes of both), or none (ANONYMOUS). A credential that is sent
 * but wrong — a secret that does not match, a JWT that is malformed, expired, for another issuer or
 * audience, or signed by no key of the JWKS — refuses the whole request with HTTP 401 and
 * UNAUTHENTICATED: a caller that meant to authenticate learns at once, instead of through nulls. A
 * JWKS that cannot be read answers 503. No credential is ever logged or echoed.
 */
export function createIdentify(auth: AuthConfig, logger: Logger): Identify {
  const { sharedSecret, jwt } = auth;
  if (sharedSecret === undefined && jwt === undefined) return async () => ANONYMOUS;

  const gateway: Caller | undefined =
    sharedSecret === undefined ? undefined : Object.freeze({ authenticated: true, scopes: new Set(sharedSecret.scopes) });

  const verify = jwt === undefined ? undefined : jwtVerifier(jwt, logger);

  return async (headers) => {
    let caller = ANONYMOUS;
    if (sharedSecret !== undefined) {
      const given = headers.get(sharedSecret.header);
      if (given !== undefined) {
        // Digests of equal length, compared in constant time: neither the secret nor its length leaks through timing.
        if (!timingSafeEqual(sha256(given), sharedSecret.digest)) throw refused(`the ${sharedSecret.header} header is wrong`, false);
        caller = gateway!;
      }
    }
    if (verify !== undefined) {
      const token = bearerToken(headers.get('authorization'));
      if (token !== undefined) {
        const scopes = await verify(token);
        caller = { authenticated: true, scopes: caller.scopes.size === 0 ? scopes : new Set([...caller.scopes, ...scopes]) };
      }
    }
    return caller;
  };
}

/** The token of `Authorization: Bearer <token>`; `undefined` when the header is absent or of another scheme. */
function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer(?:\s+(.*))?$/i.exec(header.trim());
  if (match === null) return undefined;
  return match[1]?.trim() ?? '';
}

/** Verifies a JWT against the JWKS (fetched when first needed, cached, refetched for an unknown `kid`); resolves its scopes. */
function jwtVerifier(jwt: NonNullable<AuthConfig['jwt']>, logger: Logger): (token: string) => Promise<ReadonlySet<string>> {
  const keys = createRemoteJWKSet(new URL(jwt.jwksUrl), { timeoutDuration: 5_000, cooldownDuration: 30_000 });
  const options = {
    issuer: jwt.issuer,
    audience: jwt.audience === undefined ? undefined : [...jwt.audience],
    clockTolerance: jwt.clockToleranceSeconds,
    // A token without `exp` would never expire: refused unless AUTH_JWT_REQUIRE_EXP=0.
    ...(jwt.requireExp ? { requiredClaims: ['exp'] } : {}),
  };
  return async (token) => {
    if (token === '') throw refused('the bearer token is empty');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, options));
    } catch (error) {
      const reason = rejection(error);
      if (reason !== undefined) {
        logger.debug({ reason }, 'request refused: its JWT did not verify');
        throw refused(`the bearer token ${reason}`);
      }
      logger.warn(
        { err: error instanceof Error ? ((error as { code?: string }).code ?? error.name) : 'unknown' },
        'the JWKS could not be read',
      );
      throw new GraphQLError('Credentials cannot be verified now: the JWKS (AUTH_JWKS_URL) could not be read', {
        extensions: { code: 'UPSTREAM_UNAVAILABLE', http: { status: 503 } },
      });
    }
    return scopesOf(payload);
  };
}

/** Why a token was refused, when the token is at fault (rather than the JWKS or the network). */
function rejection(error: unknown): string | undefined {
  if (error instanceof errors.JWTExpired) return 'has expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `failed its "${error.claim}" check`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'has a signature that does not verify';
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) return 'names no key of the JWKS';
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported)
    return 'uses an algorithm that is not accepted';
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid) return 'is not a valid JWT';
  return undefined;
}

/** The scopes of a token: `scope` (OAuth 2, space-separated) and `scp` (an array, or space-separated as Azure AD sends it). */
function scopesOf(payload: JWTPayload): ReadonlySet<string> {
  const scopes = new Set<string>();
  for (const claim of [payload.scope, payload.scp]) {
    const values = typeof claim === 'string' ? claim.split(/\s+/) : Array.isArray(claim) ? claim : [];
    for (const value of values) if (typeof value === 'string' && value !== '') scopes.add(value);
  }
  return scopes;
}

/** HTTP 401 with UNAUTHENTICATED; for a bearer token, the `WWW-Authenticate` challenge of RFC 6750. */
function refused(why: string, bearer = true): GraphQLError {
  const headers = new HeaderMap(bearer ? [['www-authenticate', 'Bearer error="invalid_token"']] : []);
  // Typed loosely on purpose: graphql-yoga (a dev dependency, through Hive Gateway) augments
  // GraphQLErrorExtensions.http with headers of its own type, where Apollo Server reads a HeaderMap.
  const extensions: Record<string, unknown> = { code: 'UNAUTHENTICATED', http: { status: 401, headers } };
  return new GraphQLError(`Unauthenticated: ${why}`, { extensions: extensions as GraphQLErrorExtensions });
}
