import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { Runtime } from '../src/core/lookup.js';
import { type RunningServer, startServer } from '../src/http/server.js';
import { providers } from '../src/providers/registry.js';
import { startTestIssuer, type TestIssuer } from '../src/testing/jwks.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * Access control over HTTP (docs/access-control.md, "Access control"): who is authenticated, what a refused field
 * answers, that nothing is fetched for it, that bad credentials refuse the request before anything
 * runs, that no credential reaches a log line; and the production defaults of introspection and
 * inline traces.
 */
const SECRET = 'gateway-secret-3f9a1c77d2b84e06';

const nexudus = (h: Harness, kind: 'token' | 'list' | 'single') => h.emulator('nexudus').requests.filter((r) => r.kind === kind);
/** Every request any emulator received. */
const upstreamRequests = (h: Harness) =>
  h.emulator('x').requests.length +
  h.emulator('nexudus').requests.length +
  h.emulator('telegram').rpcs.length +
  [...h.emulator('bitrix24').values()].reduce((sum, portal) => sum + portal.requests.length, 0);
/** `[path, code]` of each error, sorted. */
const refusals = (errors: Array<{ path?: Array<string | number>; extensions?: Record<string, any> }> = []) =>
  errors.map((e) => [e.path!.join('.'), e.extensions!.code]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));

describe('with a shared secret and a JWKS', () => {
  let h: Harness;
  let idp: TestIssuer;
  const sent: string[] = [];
  const bearer = async (claims: Record<string, unknown> = {}, options: { foreignKey?: boolean } = {}) => {
    const token = await idp.sign(claims, options);
    sent.push(token);
    return { authorization: `Bearer ${token}` };
  };

  beforeAll(async () => {
    idp = await startTestIssuer();
    h = await startHarness({
      env: { AUTH_SHARED_SECRET: SECRET, AUTH_JWKS_URL: idp.url, AUTH_JWT_ISSUER: idp.issuer, AUTH_JWT_AUDIENCE: idp.audience },
    });
    // A token in hand, so that counts below are of user calls only.
    await h.gql('{ nexudusUsers(ids: ["1"]) { id } }');
  });
  afterAll(async () => {
    await h?.close();
    await idp?.close();
  });
  beforeEach(() => h.reset());

  it('an anonymous caller: each protected field is null with UNAUTHENTICATED there, the rest stands, no single-record call', async () => {
    const { status, body } = await h.gql('{ nexudusUsers(ids: ["25", "26"]) { id fullName email isAdmin roles } }');
    expect(status).toBe(200);
    expect(body.data.nexudusUsers).toEqual([
      { id: '25', fullName: 'Demo User 25', email: null, isAdmin: null, roles: null },
      { id: '26', fullName: 'Demo User 26', email: null, isAdmin: null, roles: null },
    ]);
    expect(refusals(body.errors)).toEqual([
      ['nexudusUsers.0.email', 'UNAUTHENTICATED'],
      ['nexudusUsers.0.isAdmin', 'UNAUTHENTICATED'],
      ['nexudusUsers.0.roles', 'UNAUTHENTICATED'],
      ['nexudusUsers.1.email', 'UNAUTHENTICATED'],
      ['nexudusUsers.1.isAdmin', 'UNAUTHENTICATED'],
      ['nexudusUsers.1.roles', 'UNAUTHENTICATED'],
    ]);
    expect(body.errors![0]!.extensions).toEqual({ code: 'UNAUTHENTICATED', field: 'NexudusUser.email' });
    expect(body.errors![0]!.message).toBe('NexudusUser.email requires an authenticated caller with scope users:personal');
    // The full-record fields were refused, so the list call answers: one call for both users.
    expect(nexudus(h, 'single')).toHaveLength(0);
    expect(nexudus(h, 'list')).toHaveLength(1);
  });

  it('a JWT without the scope: FORBIDDEN at personal fields, @authenticated ones served, still no single-record call', async () => {
    const { status, body } = await h.gql(
      '{ nexudusUsers(ids: ["25"]) { id email isAdmin apiAccess defaultBusinessId } }',
      undefined,
      await bearer({ scope: 'profile other:scope' }),
    );
    expect(status).toBe(200);
    expect(body.data.nexudusUsers[0]).toMatchObject({ id: '25', email: null, isAdmin: null, apiAccess: null });
    expect(body.data.nexudusUsers[0].defaultBusinessId).not.toBeNull();
    expect(refusals(body.errors)).toEqual([
      ['nexudusUsers.0.apiAccess', 'FORBIDDEN'],
      ['nexudusUsers.0.email', 'FORBIDDEN'],
      ['nexudusUsers.0.isAdmin', 'FORBIDDEN'],
    ]);
    expect(body.errors![0]!.message).toContain("which this caller's credentials do not grant");
    expect(nexudus(h, 'single')).toHaveLength(0);
  });

  it('a JWT with users:personal, in `scope` or in `scp`: every field, full records fetched as before', async () => {
    for (const claims of [{ scope: 'openid users:personal' }, { scp: ['users:personal'] }]) {
      h.reset();
      const { body } = await h.gql('{ nexudusUsers(ids: ["25", "26"]) { id email isAdmin businessIds } }', undefined, await bearer(claims));
      expect(body.errors).toBeUndefined();
      expect(body.data.nexudusUsers[0]).toMatchObject({ id: '25', email: 'user25@coworking.example', isAdmin: true });
      expect(nexudus(h, 'single').filter((r) => r.status !== 409)).toHaveLength(2);
    }
  });

  it('the shared secret alone: authenticated, but no scope unless AUTH_SHARED_SECRET_SCOPES names one', async () => {
    // A gateway sends the secret for every caller: by default that must not open anyone's personal data.
    const { body } = await h.gql('{ nexudusUsers(ids: ["25"]) { email isAdmin businessIds } }', undefined, { 'x-subgraph-secret': SECRET });
    expect(body.data.nexudusUsers[0]).toEqual({ email: null, isAdmin: null, businessIds: expect.any(Array) });
    expect(refusals(body.errors)).toEqual([
      ['nexudusUsers.0.email', 'FORBIDDEN'],
      ['nexudusUsers.0.isAdmin', 'FORBIDDEN'],
    ]);
  });

  it('every provider and _entities alike: the refused fields only, at their paths', async () => {
    const { body } = await h.gql(
      `query($r: [_Any!]!) {
        telegramUsers(ids: ["3"]) { id phone status { presence lastSeenAt } }
        bitrix24Users(ids: ["2"]) { id name birthday phones { workPhone } onlineStatus }
        _entities(representations: $r) { ... on NexudusUser { id email } }
      }`,
      { r: [{ __typename: 'NexudusUser', id: '7' }] },
    );
    expect(body.data.telegramUsers[0]).toMatchObject({ id: '3', phone: null, status: { lastSeenAt: null } });
    expect(body.data.telegramUsers[0].status.presence).toEqual(expect.any(String));
    expect(body.data.bitrix24Users[0]).toEqual({ id: '2', name: 'Demo User 2', birthday: null, phones: null, onlineStatus: null });
    expect(body.data._entities).toEqual([{ id: '7', email: null }]);
    expect(refusals(body.errors)).toEqual([
      ['_entities.0.email', 'UNAUTHENTICATED'],
      ['bitrix24Users.0.birthday', 'UNAUTHENTICATED'],
      ['bitrix24Users.0.onlineStatus', 'UNAUTHENTICATED'],
      ['bitrix24Users.0.phones', 'UNAUTHENTICATED'],
      ['telegramUsers.0.phone', 'UNAUTHENTICATED'],
      ['telegramUsers.0.status.lastSeenAt', 'UNAUTHENTICATED'],
    ]);
  });

  it('wrong credentials: the whole request is refused with HTTP 401, before anything is sent upstream', async () => {
    const query = '{ nexudusUsers(ids: ["25"]) { id email } xUsers(ids: ["1"]) { id } }';
    const expired = await bearer({ scope: 'users:personal', exp: Math.floor(Date.now() / 1000) - 3600 });
    const cases: Array<[Record<string, string>, string]> = [
      [{ 'x-subgraph-secret': `${SECRET}-rotated` }, 'the x-subgraph-secret header is wrong'],
      [expired, 'the bearer token has expired'],
      [await bearer({ scope: 'users:personal' }, { foreignKey: true }), 'the bearer token has a signature that does not verify'],
      [{ authorization: 'Bearer not.a.jwt' }, 'the bearer token is not a valid JWT'],
      // A good secret does not excuse a bad token.
      [{ 'x-subgraph-secret': SECRET, ...expired }, 'the bearer token has expired'],
    ];
    for (const [headers, reason] of cases) {
      const { status, body } = await h.gql(query, undefined, headers);
      expect(status).toBe(401);
      expect(body.data).toBeUndefined();
      expect(body.errors).toEqual([{ message: `Unauthenticated: ${reason}`, extensions: { code: 'UNAUTHENTICATED' } }]);
    }
    expect(upstreamRequests(h)).toBe(0);

    const res = await fetch(`${h.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...expired },
      body: JSON.stringify({ query }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  });

  it('no log line carries the shared secret or a token; the JWKS is fetched once', async () => {
    const query = '{ nexudusUsers(ids: ["25"]) { id email } }';
    await h.gql(query, undefined, { 'x-subgraph-secret': SECRET });
    await h.gql(query, undefined, { 'x-subgraph-secret': `${SECRET}x` });
    await h.gql(query, undefined, await bearer({ scope: 'users:personal' }));
    await h.gql(query, undefined, await bearer({ exp: Math.floor(Date.now() / 1000) - 3600 }));
    await h.gql(query, undefined, await bearer({ iss: 'https://elsewhere.test/' }));
    const logs = h.logs.join('\n');
    expect(logs).not.toContain(SECRET);
    expect(logs).not.toContain(SECRET.slice(0, 12));
    // A JWT's signature (its last part) is what would make a logged token usable.
    for (const token of sent) expect(logs).not.toContain(token.split('.')[2]);
    expect(idp.fetches).toBe(1);
  });
});

describe('without a way to authenticate, outside the demo', () => {
  let h: Harness;
  beforeAll(async () => {
    // AUTH_PERSONAL_DATA empty is unset: the default, as it applies outside the demo.
    h = await startHarness({ env: { AUTH_PERSONAL_DATA: '' } });
  });
  afterAll(() => h?.close());

  it('protected fields are refused to everyone, with a message that says how to serve them', async () => {
    const { status, body } = await h.gql('{ nexudusUsers(ids: ["25"]) { id email } }', undefined, {
      authorization: 'Bearer anything',
      'x-subgraph-secret': 'anything',
    });
    expect(status).toBe(200);
    expect(body.data.nexudusUsers).toEqual([{ id: '25', email: null }]);
    expect(body.errors).toHaveLength(1);
    expect(body.errors![0]!.extensions).toEqual({ code: 'UNAUTHENTICATED', field: 'NexudusUser.email' });
    for (const variable of ['AUTH_SHARED_SECRET', 'AUTH_JWKS_URL', 'AUTH_PERSONAL_DATA=open'])
      expect(body.errors![0]!.message).toContain(variable);
  });
});

describe('introspection and inline traces in production', () => {
  const servers: RunningServer[] = [];
  const start = async (env: Record<string, string> = {}) => {
    // Credentials of a provider, so that this is not the demo; no client is started (nothing is looked up here).
    const config = loadConfig(providers, { PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'production', X_BEARER_TOKEN: 'x-token', ...env });
    const server = await startServer(config, new Runtime(), pino({ level: 'silent' }));
    servers.push(server);
    return server;
  };
  afterAll(async () => {
    for (const server of servers) await server.close();
  });

  const post = async (server: RunningServer, query: string) => {
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'apollo-federation-include-trace': 'ftv1' },
      body: JSON.stringify({ query }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  it('by default: no introspection, no ftv1; the SDL for composition is still served', async () => {
    const server = await start();
    const introspection = await post(server, '{ __schema { queryType { name } } }');
    expect(introspection.status).toBe(400);
    expect(introspection.body.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const sdl = await post(server, '{ _service { sdl } }');
    expect(sdl.status).toBe(200);
    expect(sdl.body.data._service.sdl).toContain('@requiresScopes');
    expect(sdl.body.extensions?.ftv1).toBeUndefined();
  });

  it('INTROSPECTION=1 and INLINE_TRACES=1 turn them on', async () => {
    const server = await start({ INTROSPECTION: '1', INLINE_TRACES: '1' });
    const introspection = await post(server, '{ __schema { queryType { name } } }');
    expect(introspection.body.data.__schema.queryType.name).toBe('Query');
    expect(introspection.body.extensions.ftv1).toEqual(expect.any(String));
  });
});
