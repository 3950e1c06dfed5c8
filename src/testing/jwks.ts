import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { startLoopbackServer } from '../emulators/loopback-server.js';

/**
 * An identity provider for tests: a JWKS served on loopback (`url`), and tokens signed with its key,
 * or with a key it does not publish. Tokens are valid from an hour ago to an hour from now unless a
 * test says otherwise, so no test races the wall clock.
 */
export interface TestIssuer {
  /** The JWKS URL (AUTH_JWKS_URL). */
  url: string;
  issuer: string;
  audience: string;
  /** How many times the JWKS was fetched. */
  readonly fetches: number;
  /** A token with `claims` over iss, aud, sub, iat, nbf and exp. */
  sign(claims?: JWTPayload, options?: { foreignKey?: boolean }): Promise<string>;
  close(): Promise<void>;
}

export const TEST_ISSUER = 'https://issuer.test/';
export const TEST_AUDIENCE = 'users-subgraph';

export async function startTestIssuer(): Promise<TestIssuer> {
  const own = await generateKeyPair('ES256');
  const foreign = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(own.publicKey)), kid: 'test-key', alg: 'ES256', use: 'sig' };
  let fetches = 0;
  const server = await startLoopbackServer({
    name: 'test JWKS',
    internalError: { status: 500, body: '' },
    handle(_req, res) {
      fetches += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    },
  });
  const now = Math.floor(Date.now() / 1000);
  return {
    url: `${server.url}/.well-known/jwks.json`,
    issuer: TEST_ISSUER,
    audience: TEST_AUDIENCE,
    get fetches() {
      return fetches;
    },
    sign(claims = {}, options = {}) {
      return new SignJWT({
        iss: TEST_ISSUER,
        aud: TEST_AUDIENCE,
        sub: 'caller-1',
        iat: now - 3600,
        nbf: now - 3600,
        exp: now + 3600,
        ...claims,
      })
        .setProtectedHeader({ alg: 'ES256', kid: 'test-key', typ: 'JWT' })
        .sign(options.foreignKey ? foreign.privateKey : own.privateKey);
    },
    close: () => server.close(),
  };
}
