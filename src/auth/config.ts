import { createHash } from 'node:crypto';
import { z } from 'zod';
import { flag, int, secret, text } from '../core/env.js';

/**
 * Who may see the fields the schema marks `@authenticated` or `@requiresScopes` (docs/access-control.md,
 * "How a caller authenticates"): the variables that authenticate callers, validated at start-up like
 * every other. A message names the variable at fault, never its value. The shared secret is kept only
 * as its SHA-256 digest, so no configuration object can leak it into a log line.
 */

/** A caller that sends the shared secret in `header` is authenticated, with `scopes`. */
export interface SharedSecretConfig {
  /** Lower case, as Node gives header names. */
  header: string;
  /** SHA-256 of the secret: what a given value's digest is compared with, in constant time. */
  digest: Buffer;
  /**
   * The scopes the secret grants: none unless AUTH_SHARED_SECRET_SCOPES names some. A gateway that sends
   * the secret for every caller would otherwise open every protected field to its anonymous clients.
   */
  scopes: readonly string[];
}

/** A caller whose `Authorization: Bearer` JWT verifies against the JWKS is authenticated, with the token's scopes. */
export interface JwtConfig {
  jwksUrl: string;
  issuer: string;
  /** Any one of these as `aud`; `undefined`: `aud` is not checked. */
  audience: readonly string[] | undefined;
  clockToleranceSeconds: number;
  /** Whether a token without `exp` is refused (AUTH_JWT_REQUIRE_EXP, default on): without one it never expires. */
  requireExp: boolean;
}

export interface AuthConfig {
  sharedSecret: SharedSecretConfig | undefined;
  jwt: JwtConfig | undefined;
  /**
   * Whether the subgraph refuses protected fields to callers that do not satisfy their directives.
   * Always when a way to authenticate is configured; otherwise unless personal data is open.
   */
  enforced: boolean;
}

/** What the variables say, before the demo's default is known. */
export interface AuthSettings {
  sharedSecret: SharedSecretConfig | undefined;
  jwt: JwtConfig | undefined;
  personalData: 'open' | 'protected' | undefined;
}

export const DEFAULT_SECRET_HEADER = 'x-subgraph-secret';

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** An OAuth scope token (RFC 6749, 3.3). */
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

const scopeList = text.pipe(
  z
    .string()
    .refine((v) => v === 'none' || v.split(/\s+/).every((scope) => SCOPE.test(scope)), 'must be space-separated scopes, or none')
    .optional(),
);

export const authEnv = z
  .object({
    AUTH_SHARED_SECRET: secret
      .pipe(z.string().min(16, 'must be at least 16 characters').optional())
      .describe(
        'A secret of 16 or more printable ASCII characters without spaces that the gateway sends in `AUTH_SHARED_SECRET_HEADER`: ' +
          'a request carrying it is authenticated, with no scope unless `AUTH_SHARED_SECRET_SCOPES` names some. It is compared ' +
          'in constant time and never logged; set but blank is refused.',
      ),
    AUTH_SHARED_SECRET_HEADER: text
      .pipe(z.string().regex(HEADER_NAME, 'must be an HTTP header name').optional())
      .describe(
        `The HTTP header that carries \`AUTH_SHARED_SECRET\`, \`${DEFAULT_SECRET_HEADER}\` when unset. Only with \`AUTH_SHARED_SECRET\`, ` +
          'and not `Authorization` when `AUTH_JWKS_URL` is set (the JWT travels there).',
      ),
    AUTH_SHARED_SECRET_SCOPES: scopeList.describe(
      'The scopes the shared secret grants, space-separated (the schema asks for `users:personal`), or `none`; only with ' +
        '`AUTH_SHARED_SECRET`. Unset: none, so the secret authenticates (for `@authenticated` fields) and grants no scope.',
    ),
    AUTH_JWKS_URL: text
      .pipe(z.string().refine(isJwksUrl, 'must be an https URL (http only on loopback)').optional())
      .describe(
        'A JWKS URL (https; http only on loopback): a caller whose `Authorization: Bearer` JWT verifies against it is ' +
          "authenticated, with the token's `scope` and `scp` scopes. Requires `AUTH_JWT_ISSUER`.",
      ),
    AUTH_JWT_ISSUER: text.describe('The `iss` a JWT must have: required with `AUTH_JWKS_URL`, refused without it.'),
    AUTH_JWT_AUDIENCE: text.describe(
      'The `aud` a JWT must have, comma-separated (any one of them will do); only with `AUTH_JWKS_URL`. Unset: `aud` is not checked.',
    ),
    AUTH_JWT_CLOCK_TOLERANCE_SECONDS: int(0, 600, 30).describe("Seconds of leeway on a JWT's `exp` and `nbf`, 0–600."),
    AUTH_JWT_REQUIRE_EXP: flag(true).describe(
      'Whether a JWT without `exp`, one that would never expire, is refused with 401; `0` accepts one.',
    ),
    AUTH_PERSONAL_DATA: z
      .enum(['open', 'protected', ''], { message: 'must be open or protected' })
      .optional()
      .transform((v) => v || undefined)
      .describe(
        'With neither `AUTH_SHARED_SECRET` nor `AUTH_JWKS_URL`: `open` serves the fields marked `@authenticated` or ' +
          '`@requiresScopes` to every caller, `protected` refuses them. Unset: `open` in the demo, `protected` otherwise; ' +
          '`open` is refused when either of those is set.',
      ),
  })
  .superRefine((vars, ctx) => {
    const problem = (variable: string, message: string) => ctx.addIssue({ code: 'custom', path: [variable], message });
    if (vars.AUTH_SHARED_SECRET === undefined) {
      if (vars.AUTH_SHARED_SECRET_HEADER !== undefined) problem('AUTH_SHARED_SECRET_HEADER', 'is set but AUTH_SHARED_SECRET is not');
      if (vars.AUTH_SHARED_SECRET_SCOPES !== undefined) problem('AUTH_SHARED_SECRET_SCOPES', 'is set but AUTH_SHARED_SECRET is not');
    }
    if (vars.AUTH_JWKS_URL === undefined) {
      if (vars.AUTH_JWT_ISSUER !== undefined) problem('AUTH_JWT_ISSUER', 'is set but AUTH_JWKS_URL is not');
      if (vars.AUTH_JWT_AUDIENCE !== undefined) problem('AUTH_JWT_AUDIENCE', 'is set but AUTH_JWKS_URL is not');
    } else {
      if (vars.AUTH_JWT_ISSUER === undefined) problem('AUTH_JWT_ISSUER', 'is required with AUTH_JWKS_URL');
      if (vars.AUTH_SHARED_SECRET_HEADER?.toLowerCase() === 'authorization') {
        problem('AUTH_SHARED_SECRET_HEADER', 'must not be Authorization when AUTH_JWKS_URL is set (the JWT travels there)');
      }
    }
    const authenticates = vars.AUTH_SHARED_SECRET !== undefined || vars.AUTH_JWKS_URL !== undefined;
    if (authenticates && vars.AUTH_PERSONAL_DATA === 'open') {
      problem(
        'AUTH_PERSONAL_DATA',
        'must not be open when AUTH_SHARED_SECRET or AUTH_JWKS_URL is set: protected fields are then served by the rules',
      );
    }
  })
  .transform(
    (vars): AuthSettings => ({
      sharedSecret:
        vars.AUTH_SHARED_SECRET === undefined
          ? undefined
          : {
              header: (vars.AUTH_SHARED_SECRET_HEADER ?? DEFAULT_SECRET_HEADER).toLowerCase(),
              digest: sha256(vars.AUTH_SHARED_SECRET),
              scopes:
                vars.AUTH_SHARED_SECRET_SCOPES === undefined || vars.AUTH_SHARED_SECRET_SCOPES === 'none'
                  ? []
                  : vars.AUTH_SHARED_SECRET_SCOPES.split(/\s+/),
            },
      jwt:
        vars.AUTH_JWKS_URL === undefined
          ? undefined
          : {
              jwksUrl: vars.AUTH_JWKS_URL,
              issuer: vars.AUTH_JWT_ISSUER!,
              audience: vars.AUTH_JWT_AUDIENCE?.split(',').map((a) => a.trim()),
              clockToleranceSeconds: vars.AUTH_JWT_CLOCK_TOLERANCE_SECONDS,
              requireExp: vars.AUTH_JWT_REQUIRE_EXP,
            },
      personalData: vars.AUTH_PERSONAL_DATA,
    }),
  );

/**
 * The access configuration once it is known whether this is the demo. With a way to authenticate,
 * the rules are enforced. Without one, protected fields are refused to everyone unless personal data
 * is open: explicitly (AUTH_PERSONAL_DATA=open), or by default in the demo, whose users are made up.
 */
export function resolveAuth(settings: AuthSettings, demo: boolean): AuthConfig {
  const { sharedSecret, jwt, personalData } = settings;
  const authenticates = sharedSecret !== undefined || jwt !== undefined;
  return { sharedSecret, jwt, enforced: authenticates || (personalData ?? (demo ? 'open' : 'protected')) === 'protected' };
}

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function isJwksUrl(value: string): boolean {
  try {
    const url = new URL(value);
    if (url.protocol === 'https:') return true;
    return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  } catch {
    return false;
  }
}
