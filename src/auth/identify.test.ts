import { HeaderMap } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Env } from '../core/types.js';
import { startTestIssuer, type TestIssuer } from '../testing/jwks.js';
import { captureLogs } from '../testing/log-capture.js';
import { ANONYMOUS } from './caller.js';
import { authEnv, resolveAuth } from './config.js';
import { createIdentify } from './identify.js';

const SECRET = 'a-shared-secret-of-some-length';

let idp: TestIssuer;
beforeAll(async () => {
  idp = await startTestIssuer();
});
afterAll(() => idp.close());

function identifyWith(env: Env) {
  const logs = captureLogs('debug');
  const identify = createIdentify(resolveAuth(authEnv.parse(env), false), logs.logger);
  return { identify, logs };
}

/** Claims whose `exp` is left out of the token (JSON drops an undefined claim). */
const withoutExp = { exp: undefined } as unknown as Record<string, never>;
const jwtEnv = (): Env => ({ AUTH_JWKS_URL: idp.url, AUTH_JWT_ISSUER: idp.issuer, AUTH_JWT_AUDIENCE: idp.audience });
const headers = (entries: Record<string, string>) => new HeaderMap(Object.entries(entries));

/** The refusal `identify` rejected with: its code and HTTP status. */
async function refusal(pending: Promise<unknown>): Promise<{ code: unknown; status: unknown; message: string }> {
  const error = await pending.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GraphQLError);
  const { extensions, message } = error as GraphQLError;
  return { code: extensions.code, status: (extensions.http as { status: number }).status, message };
}

describe('without authentication configured', () => {
  it('every caller is anonymous, whatever it sends', async () => {
    const { identify } = identifyWith({});
    expect(await identify(headers({ authorization: 'Bearer whatever', 'x-subgraph-secret': 'guess' }))).toBe(ANONYMOUS);
  });
});

describe('the shared secret', () => {
  it('authenticates and grants no scope by default: a gateway sending it for everyone opens no protected field', async () => {
    const { identify } = identifyWith({ AUTH_SHARED_SECRET: SECRET });
    const caller = await identify(headers({ 'x-subgraph-secret': SECRET }));
    expect(caller).toEqual({ authenticated: true, scopes: new Set() });
  });

  it('grants the scopes AUTH_SHARED_SECRET_SCOPES lists, or none, in the header AUTH_SHARED_SECRET_HEADER names', async () => {
    const some = identifyWith({ AUTH_SHARED_SECRET: SECRET, AUTH_SHARED_SECRET_HEADER: 'X-Gateway-Key', AUTH_SHARED_SECRET_SCOPES: 'a b' });
    expect(await some.identify(headers({ 'x-gateway-key': SECRET }))).toEqual({ authenticated: true, scopes: new Set(['a', 'b']) });
    expect(await some.identify(headers({ 'x-subgraph-secret': SECRET }))).toBe(ANONYMOUS);
    const none = identifyWith({ AUTH_SHARED_SECRET: SECRET, AUTH_SHARED_SECRET_SCOPES: 'none' });
    expect(await none.identify(headers({ 'x-subgraph-secret': SECRET }))).toEqual({ authenticated: true, scopes: new Set() });
  });

  it('absent: anonymous; wrong (longer, shorter, empty, one character off): 401 UNAUTHENTICATED, and nothing logged of it', async () => {
    const { identify, logs } = identifyWith({ AUTH_SHARED_SECRET: SECRET });
    expect(await identify(headers({}))).toBe(ANONYMOUS);
    for (const wrong of [`${SECRET}x`, SECRET.slice(0, -1), '', `${SECRET.slice(0, -1)}X`]) {
      const refused = await refusal(identify(headers({ 'x-subgraph-secret': wrong })));
      expect(refused).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
      expect(refused.message).not.toContain(SECRET.slice(0, 8));
    }
    expect(logs.lines.join('')).not.toContain(SECRET.slice(0, 8));
  });
});

describe('a JWT', () => {
  it('authenticates with the scopes of `scope` (space-separated) and `scp` (an array, or a string)', async () => {
    const { identify } = identifyWith(jwtEnv());
    const bearer = async (claims: Record<string, unknown>) => headers({ authorization: `Bearer ${await idp.sign(claims)}` });
    expect(await identify(await bearer({ scope: 'users:personal other' }))).toEqual({
      authenticated: true,
      scopes: new Set(['users:personal', 'other']),
    });
    expect((await identify(await bearer({ scp: ['users:personal'] }))).scopes).toEqual(new Set(['users:personal']));
    expect((await identify(await bearer({ scp: 'a b' }))).scopes).toEqual(new Set(['a', 'b']));
    expect(await identify(await bearer({}))).toEqual({ authenticated: true, scopes: new Set() });
  });

  it('absent, or another scheme than Bearer: anonymous', async () => {
    const { identify } = identifyWith(jwtEnv());
    expect(await identify(headers({}))).toBe(ANONYMOUS);
    expect(await identify(headers({ authorization: 'Basic dXNlcjpwYXNz' }))).toBe(ANONYMOUS);
  });

  it.each([
    ['expired', () => idp.sign({ exp: Math.floor(Date.now() / 1000) - 3600 }), 'has expired'],
    // Issue 20: a token without `exp` never expired.
    ['without exp', () => idp.sign(withoutExp), 'failed its "exp" check'],
    ['not yet valid', () => idp.sign({ nbf: Math.floor(Date.now() / 1000) + 3600 }), 'failed its "nbf" check'],
    ['for another issuer', () => idp.sign({ iss: 'https://elsewhere.test/' }), 'failed its "iss" check'],
    ['for another audience', () => idp.sign({ aud: 'another-api' }), 'failed its "aud" check'],
    ['signed by a key the JWKS does not publish', () => idp.sign({}, { foreignKey: true }), 'signature'],
    ['tampered with', async () => `${(await idp.sign({})).slice(0, -4)}AAAA`, 'signature'],
    ['not a JWT', async () => 'not.a.jwt', 'is not a valid JWT'],
    ['empty', async () => '', 'is empty'],
  ])('%s: 401 UNAUTHENTICATED, and the token is never logged', async (_, token, reason) => {
    const { identify, logs } = identifyWith(jwtEnv());
    const jwt = await token();
    const refused = await refusal(identify(headers({ authorization: `Bearer ${jwt}` })));
    expect(refused).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    expect(refused.message).toContain(reason);
    if (jwt.length > 20) {
      expect(refused.message).not.toContain(jwt.slice(-20));
      expect(logs.lines.join('')).not.toContain(jwt.slice(-20));
    }
  });

  it('without exp, accepted only with AUTH_JWT_REQUIRE_EXP=0', async () => {
    const { identify } = identifyWith({ ...jwtEnv(), AUTH_JWT_REQUIRE_EXP: '0' });
    const caller = await identify(headers({ authorization: `Bearer ${await idp.sign(withoutExp)}` }));
    expect(caller.authenticated).toBe(true);
  });

  it('with the shared secret too: authenticated with the scopes of both', async () => {
    const { identify } = identifyWith({ ...jwtEnv(), AUTH_SHARED_SECRET: SECRET, AUTH_SHARED_SECRET_SCOPES: 'gateway' });
    const token = await idp.sign({ scope: 'users:personal' });
    expect(await identify(headers({ authorization: `Bearer ${token}`, 'x-subgraph-secret': SECRET }))).toEqual({
      authenticated: true,
      scopes: new Set(['gateway', 'users:personal']),
    });
  });

  it('a JWKS that cannot be read: 503 UPSTREAM_UNAVAILABLE, not a refusal of the caller', async () => {
    const gone = await startTestIssuer();
    await gone.close();
    const logs = captureLogs('debug');
    const identify = createIdentify(
      resolveAuth(authEnv.parse({ AUTH_JWKS_URL: gone.url, AUTH_JWT_ISSUER: gone.issuer }), false),
      logs.logger,
    );
    const refused = await refusal(identify(headers({ authorization: `Bearer ${await gone.sign({})}` })));
    expect(refused).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', status: 503 });
    expect(logs.entries().map((e) => e.msg)).toContain('the JWKS could not be read');
  });
});
