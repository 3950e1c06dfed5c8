import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config.js';
import type { Env } from '../core/types.js';
import { providers } from '../providers/registry.js';
import { authEnv, DEFAULT_SECRET_HEADER, resolveAuth, sha256 } from './config.js';

const SECRET = 'a-shared-secret-of-some-length';
const JWT: Env = { AUTH_JWKS_URL: 'https://idp.example/.well-known/jwks.json', AUTH_JWT_ISSUER: 'https://idp.example/' };
/** Any provider's credentials, so that the demo is not what runs. */
const PRODUCTION: Env = { X_BEARER_TOKEN: 'x-token', NODE_ENV: 'production' };

function problems(env: Env): string[] {
  try {
    loadConfig(providers, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('the access variables', () => {
  it('none set: no way to authenticate; protected fields refused, except in the demo', () => {
    const settings = authEnv.parse({});
    expect(settings).toEqual({ sharedSecret: undefined, jwt: undefined, personalData: undefined });
    expect(resolveAuth(settings, false).enforced).toBe(true);
    expect(resolveAuth(settings, true).enforced).toBe(false);
    expect(loadConfig(providers, PRODUCTION).auth.enforced).toBe(true);
    expect(loadConfig(providers, {}).auth.enforced).toBe(false); // the demo
  });

  it('AUTH_PERSONAL_DATA says it explicitly, either way', () => {
    expect(loadConfig(providers, { ...PRODUCTION, AUTH_PERSONAL_DATA: 'open' }).auth.enforced).toBe(false);
    expect(loadConfig(providers, { AUTH_PERSONAL_DATA: 'protected' }).auth.enforced).toBe(true);
    expect(loadConfig(providers, { ...PRODUCTION, AUTH_PERSONAL_DATA: '' }).auth.enforced).toBe(true);
  });

  it('a shared secret: its header (default x-subgraph-secret, lower case), its scopes, and only its digest is kept', () => {
    const config = loadConfig(providers, { AUTH_SHARED_SECRET: SECRET }).auth;
    expect(config.enforced).toBe(true); // even in the demo, once a way to authenticate is set
    // No scope unless AUTH_SHARED_SECRET_SCOPES names some: a gateway sends the secret for every caller.
    expect(config.sharedSecret).toEqual({ header: DEFAULT_SECRET_HEADER, digest: sha256(SECRET), scopes: [] });
    expect(JSON.stringify(loadConfig(providers, { AUTH_SHARED_SECRET: SECRET }))).not.toContain(SECRET);
    const custom = authEnv.parse({
      AUTH_SHARED_SECRET: SECRET,
      AUTH_SHARED_SECRET_HEADER: 'X-Gateway-Key',
      AUTH_SHARED_SECRET_SCOPES: ' a  b:c ',
    });
    expect(custom.sharedSecret).toMatchObject({ header: 'x-gateway-key', scopes: ['a', 'b:c'] });
    expect(authEnv.parse({ AUTH_SHARED_SECRET: SECRET, AUTH_SHARED_SECRET_SCOPES: 'none' }).sharedSecret?.scopes).toEqual([]);
  });

  it('a JWKS: issuer required, audiences comma-separated, a clock tolerance of 30 s and exp required by default', () => {
    expect(authEnv.parse(JWT).jwt).toEqual({
      jwksUrl: JWT.AUTH_JWKS_URL,
      issuer: JWT.AUTH_JWT_ISSUER,
      audience: undefined,
      clockToleranceSeconds: 30,
      requireExp: true,
    });
    expect(authEnv.parse({ ...JWT, AUTH_JWT_REQUIRE_EXP: '0' }).jwt?.requireExp).toBe(false);
    expect(authEnv.parse({ ...JWT, AUTH_JWT_AUDIENCE: 'a, b', AUTH_JWT_CLOCK_TOLERANCE_SECONDS: '0' }).jwt).toMatchObject({
      audience: ['a', 'b'],
      clockToleranceSeconds: 0,
    });
    // http only on loopback (the tests' JWKS)
    expect(authEnv.parse({ ...JWT, AUTH_JWKS_URL: 'http://127.0.0.1:8080/jwks' }).jwt?.jwksUrl).toBe('http://127.0.0.1:8080/jwks');
  });

  it.each([
    [{ AUTH_SHARED_SECRET: 'short-secret' }, 'AUTH_SHARED_SECRET: must be at least 16 characters', 'short-secret'],
    [{ AUTH_SHARED_SECRET: `${SECRET} with spaces` }, 'AUTH_SHARED_SECRET: must be printable ASCII without spaces', 'with spaces'],
    [{ AUTH_SHARED_SECRET_HEADER: 'x-key' }, 'AUTH_SHARED_SECRET_HEADER: is set but AUTH_SHARED_SECRET is not', undefined],
    [{ AUTH_SHARED_SECRET: SECRET, AUTH_SHARED_SECRET_HEADER: 'x key' }, 'AUTH_SHARED_SECRET_HEADER: must be an HTTP header name', 'x key'],
    [
      { AUTH_SHARED_SECRET: SECRET, AUTH_SHARED_SECRET_SCOPES: 'a "b"' },
      'AUTH_SHARED_SECRET_SCOPES: must be space-separated scopes',
      '"b"',
    ],
    [
      { ...JWT, AUTH_SHARED_SECRET: SECRET, AUTH_SHARED_SECRET_HEADER: 'Authorization' },
      'AUTH_SHARED_SECRET_HEADER: must not be Authorization',
      undefined,
    ],
    [
      { AUTH_JWKS_URL: 'http://idp.example/jwks', AUTH_JWT_ISSUER: 'i' },
      'AUTH_JWKS_URL: must be an https URL (http only on loopback)',
      'idp.example',
    ],
    [{ AUTH_JWKS_URL: 'not a url', AUTH_JWT_ISSUER: 'i' }, 'AUTH_JWKS_URL: must be an https URL', 'not a url'],
    [{ AUTH_JWKS_URL: JWT.AUTH_JWKS_URL }, 'AUTH_JWT_ISSUER: is required with AUTH_JWKS_URL', undefined],
    [{ AUTH_JWT_ISSUER: 'https://idp.example/' }, 'AUTH_JWT_ISSUER: is set but AUTH_JWKS_URL is not', 'idp.example'],
    [{ AUTH_JWT_AUDIENCE: 'api' }, 'AUTH_JWT_AUDIENCE: is set but AUTH_JWKS_URL is not', undefined],
    [{ ...JWT, AUTH_JWT_CLOCK_TOLERANCE_SECONDS: '601' }, 'AUTH_JWT_CLOCK_TOLERANCE_SECONDS: must be at most 600', '601'],
    [
      { AUTH_SHARED_SECRET: SECRET, AUTH_PERSONAL_DATA: 'open' },
      'AUTH_PERSONAL_DATA: must not be open when AUTH_SHARED_SECRET or AUTH_JWKS_URL is set',
      undefined,
    ],
    [{ AUTH_PERSONAL_DATA: 'yes' }, 'AUTH_PERSONAL_DATA: must be open or protected', undefined],
  ] as Array<[Env, string, string | undefined]>)(
    '%j is refused at start-up, naming the variable, never the value',
    (env, problem, value) => {
      const found = problems(env);
      expect(found.some((p) => p.startsWith(problem))).toBe(true);
      if (value !== undefined) expect(found.join('\n')).not.toContain(value);
      expect(found.join('\n')).not.toContain(SECRET);
    },
  );
});

describe('introspection and inline traces', () => {
  it('introspection: on in the demo and outside production, off in production unless INTROSPECTION says so', () => {
    expect(loadConfig(providers, { NODE_ENV: 'production', DEMO: '1' }).introspection).toBe(true); // the demo
    expect(loadConfig(providers, { X_BEARER_TOKEN: 'x-token' }).introspection).toBe(true); // NODE_ENV unset
    expect(loadConfig(providers, { X_BEARER_TOKEN: 'x-token', NODE_ENV: 'development' }).introspection).toBe(true);
    expect(loadConfig(providers, PRODUCTION).introspection).toBe(false);
    expect(loadConfig(providers, { ...PRODUCTION, INTROSPECTION: '1' }).introspection).toBe(true);
    expect(loadConfig(providers, { INTROSPECTION: '0' }).introspection).toBe(false);
  });

  it('inline traces (ftv1): off unless INLINE_TRACES=1, whatever the mode', () => {
    expect(loadConfig(providers, {}).inlineTraces).toBe(false);
    expect(loadConfig(providers, { X_BEARER_TOKEN: 'x-token' }).inlineTraces).toBe(false);
    expect(loadConfig(providers, { ...PRODUCTION, INLINE_TRACES: '1' }).inlineTraces).toBe(true);
  });
});
