import { connect } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { registry } from '../../src/telemetry/metrics.js';
import { type GqlResult, type Harness, startHarness } from '../support/harness.js';
import { idsOf, xCalls } from '../support/x.js';

/**
 * Callers' own credentials through the real server (docs/access-control.md, "Per-caller credentials"): each lookup runs
 * under the server's credentials or the caller's, and what one scope fetched, cached, was refused or was
 * rate limited never reaches another. The record cache is on (X_CACHE=1, BITRIX24_CACHE=1), so that
 * isolation is tested where sharing would otherwise happen. Every token carries `SECRET`: none may show
 * in a log line, `/metrics`, `/ready` or an answer.
 */

// X user-context tokens. Demo user 17 is protected and pins post 17001; alice follows 17, bob follows no one.
const ALICE = 'alice-SECRET-x-and-bitrix-0001';
const BOB = 'bob-SECRET-x-0002';
/** Only for the rate-limit case: its window is spent for the rest of the file. */
const ERIN = 'erin-SECRET-x-0003';
// Bitrix24 tokens. portal-a is reached through a webhook and hides user 42 from everyone but alice;
// portal-b through OAuth (with a refresh token), where carol's token is the one that expires.
const CAROL = 'carol-SECRET-bitrix-0004';

const XQ = 'query($ids: [ID!]!) { xUsers(ids: $ids) { id username pinnedTweet { id text } } }';
const asX = (token: string) => ({ 'x-caller-x-token': token });
const asBitrix = (token: string, portal?: string) => ({
  'x-caller-bitrix24-token': token,
  ...(portal === undefined ? {} : { 'x-caller-bitrix24-portal': portal }),
});

let h: Harness;
/** Every answer's body as text: checked at the end for tokens. */
const answers: string[] = [];

async function ask(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GqlResult<any>> {
  const result = await h.gql(query, variables, headers);
  answers.push(JSON.stringify(result.body));
  return result;
}

const portal = (name: 'portal-a' | 'portal-b') => h.emulator('bitrix24').get(name)!;
/** Every request any emulator received. */
const upstreamRequests = () =>
  h.emulator('x').requests.length +
  h.emulator('nexudus').requests.length +
  h.emulator('telegram').rpcs.length +
  [...h.emulator('bitrix24').values()].reduce((sum, one) => sum + one.requests.length, 0);

/** A counter of this process's registry, for one provider. */
async function counter(name: string, provider: string): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  return metric?.values.find((v) => v.labels.provider === provider)?.value ?? 0;
}

/** Polls (on real time) until `done`; fails the test if it never is. */
async function until(done: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await done()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('timed out waiting');
}

/** The X calls' principals (who the emulator says sent each), sorted. */
const principals = () =>
  xCalls(h, '/2/users')
    .map((r) => r.principal)
    .sort();

beforeAll(async () => {
  h = await startHarness({
    emulators: {
      x: {
        userTokens: [
          { name: 'alice', token: ALICE, follows: ['17'] },
          { name: 'bob', token: BOB },
          { name: 'erin', token: ERIN },
        ],
        protectedPosts: 'followers',
      },
      bitrix24: {
        portals: [
          { name: 'portal-a', emulator: { callerTokens: [{ name: 'alice', token: ALICE, sees: [42] }], restrictedIds: [42] } },
          { name: 'portal-b', oauth: true, emulator: { callerTokens: [{ name: 'carol', token: CAROL }] } },
        ],
      },
    },
    env: { X_CACHE: '1', BITRIX24_CACHE: '1', UPSTREAM_CIRCUIT_FAILURES: '2' },
  });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.reset());

describe('X: three scopes (alice, bob, the server)', () => {
  it('asking the same ids at the same moment: one call per scope, each with its own token; each sees only its own', async () => {
    const ids = ['17', '34', '1'];
    const release = h.emulator('x').holdReplies();
    const joinedBefore = await counter('users_subgraph_coalesced_ids_total', 'x');
    const pending = [ask(XQ, { ids }, asX(ALICE)), ask(XQ, { ids }, asX(ALICE)), ask(XQ, { ids }, asX(BOB)), ask(XQ, { ids })];
    // X answers nothing until alice's second request has joined her first one's call, and the three calls are out.
    await until(async () => (await counter('users_subgraph_coalesced_ids_total', 'x')) === joinedBefore + 3 && xCalls(h).length === 3);
    release();
    const [alice1, alice2, bob, server] = await Promise.all(pending);

    expect(principals()).toEqual(['alice', 'app', 'bob']);
    for (const call of xCalls(h)) expect(idsOf(call).sort()).toEqual(['1', '17', '34']);
    // Alice follows 17: she sees its pinned post. Nobody else does, and no one sees 34's.
    for (const mine of [alice1!, alice2!]) {
      expect(mine.body.data.xUsers.map((u: any) => u.pinnedTweet?.id ?? null)).toEqual(['17001', null, '1001']);
      expect(mine.body.errors!.map((e) => [e.path!.join('.'), e.extensions!.code])).toEqual([['xUsers.1.pinnedTweet', 'NOT_FOUND']]);
    }
    for (const other of [bob!, server!]) {
      expect(other.body.data.xUsers.map((u: any) => u.pinnedTweet?.id ?? null)).toEqual([null, null, '1001']);
      expect(other.body.errors!.map((e) => e.path!.join('.')).sort()).toEqual(['xUsers.0.pinnedTweet', 'xUsers.1.pinnedTweet']);
    }

    // Asked again, each scope's users come from its own cache entries, and each still sees only its own.
    h.reset();
    const again = await Promise.all([ask(XQ, { ids }, asX(BOB)), ask(XQ, { ids }), ask(XQ, { ids }, asX(ALICE))]);
    expect(xCalls(h, '/2/users')).toEqual([]);
    expect(again.map((r) => r.body.data.xUsers[0].pinnedTweet?.text ?? null)).toEqual([
      null,
      null,
      alice1!.body.data.xUsers[0].pinnedTweet.text,
    ]);
  });

  it("a caller's second request is served from its cache while another caller's first goes upstream; the server's scope is a third", async () => {
    const q = 'query($ids: [ID!]!) { xUsers(ids: $ids) { id username } }';
    await ask(q, { ids: ['2'] }, asX(ALICE));
    expect(principals()).toEqual(['alice']);
    h.reset();
    const [alice, bob] = await Promise.all([ask(q, { ids: ['2'] }, asX(ALICE)), ask(q, { ids: ['2'] }, asX(BOB))]);
    expect(principals()).toEqual(['bob']);
    expect(alice.body).toEqual(bob.body);
    h.reset();
    await ask(q, { ids: ['2'] });
    expect(principals()).toEqual(['app']);
  });

  it("a 429 for one caller's token is that caller's alone: the others are served, it is not asked again, no circuit opens", async () => {
    const q = 'query($ids: [ID!]!) { xUsers(ids: $ids) { id } }';
    h.emulator('x').setRemaining('/2/users', 0, Math.floor(Date.now() / 1000) + 600, 'erin');
    const erin = await ask(q, { ids: ['3'] }, asX(ERIN));
    expect(erin.body.data.xUsers).toEqual([null]);
    expect(erin.body.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', provider: 'x', retryAfter: expect.any(Number) });
    const [bob, server] = await Promise.all([ask(q, { ids: ['3'] }, asX(BOB)), ask(q, { ids: ['3'] })]);
    expect(bob.body).toEqual({ data: { xUsers: [{ id: '3' }] } });
    expect(server.body).toEqual({ data: { xUsers: [{ id: '3' }] } });
    // Erin's spent window is remembered for her scope only: her next calls fail here without a request.
    for (const id of ['4', '5', '6'])
      expect((await ask(q, { ids: [id] }, asX(ERIN))).body.errors![0]!.extensions!.code).toBe('RATE_LIMITED');
    expect(xCalls(h).map((r) => `${r.principal} ${r.status}`)).toEqual(['erin 429', expect.any(String), expect.any(String)]);
    expect(
      xCalls(h)
        .slice(1)
        .map((r) => `${r.principal} ${r.status}`)
        .sort(),
    ).toEqual(['app 200', 'bob 200']);
    const ready = (await (await fetch(`${h.url}/ready`)).json()) as { circuits: Array<{ state: string }> };
    expect(ready.circuits.filter((c) => c.state !== 'closed')).toEqual([]);
  });
});

describe('refused and malformed caller credentials', () => {
  it('a token X refuses is UNAUTHENTICATED for that caller only, never retried with the app token; many distinct tokens open no circuit', async () => {
    const q = 'query($ids: [ID!]!) { xUsers(ids: $ids) { id } }';
    const tokens = Array.from({ length: 40 }, (_, i) => `revoked-SECRET-${i}-${'z'.repeat(i)}`);
    const refused = await Promise.all(tokens.map((token) => ask(q, { ids: ['7'] }, asX(token))));
    for (const { status, body } of refused) {
      expect(status).toBe(200);
      expect(body.errors![0]).toMatchObject({
        path: ['xUsers', 0],
        message: "X refused the caller's own credential (expired, revoked, or without access): renew it and send it again",
        extensions: { code: 'UNAUTHENTICATED', provider: 'x', id: '7' },
      });
    }
    // One request per token, each refused once; not one sent with the app's token.
    expect(xCalls(h)).toHaveLength(40);
    expect(xCalls(h).every((r) => r.status === 401 && r.principal === '')).toBe(true);
    // The server's scope still answers, and no circuit opened (UPSTREAM_CIRCUIT_FAILURES is 2 here).
    expect((await ask(q, { ids: ['7'] })).body).toEqual({ data: { xUsers: [{ id: '7' }] } });
    const ready = (await (await fetch(`${h.url}/ready`)).json()) as { circuits: Array<{ state: string }> };
    expect(ready.circuits.filter((c) => c.state !== 'closed')).toEqual([]);
  });

  it.each([
    ['with a space (or sent twice)', { 'x-caller-x-token': 'tok1, tok2' }, 'x-caller-x-token'],
    ['outside ASCII', { 'x-caller-x-token': 'tök-SECRET' }, 'x-caller-x-token'],
    ['of 2049 characters', { 'x-caller-x-token': `SECRET${'a'.repeat(2043)}` }, 'x-caller-x-token'],
    ['empty', { 'x-caller-x-token': '' }, 'x-caller-x-token'],
    [
      'for Bitrix24 with a tab in the portal name',
      { ...asBitrix(CAROL), 'x-caller-bitrix24-portal': 'portal\ta' },
      'x-caller-bitrix24-portal',
    ],
  ])(
    'a header %s refuses the whole request: HTTP 401, UNAUTHENTICATED, the header named, nothing sent upstream',
    async (_label, headers, header) => {
      const { status, body } = await ask(
        '{ xUsers(ids: ["8"]) { id } bitrix24Users(ids: ["8"], portal: "portal-a") { id } }',
        undefined,
        headers,
      );
      expect(status).toBe(401);
      expect(body.data).toBeUndefined();
      expect(body.errors).toHaveLength(1);
      expect(body.errors![0]!.extensions).toMatchObject({ code: 'UNAUTHENTICATED', header });
      expect(body.errors![0]!.message).toMatch(new RegExp(`^Unauthenticated: the ${header} header must be `));
      expect(upstreamRequests()).toBe(0);
    },
  );

  it('a Bitrix24 token for a portal not configured here (a host, a URL) refuses the request; nothing goes anywhere', async () => {
    for (const named of ['evil.example.com', 'https://evil.example.com/rest/', '127.0.0.1:6379', 'PORTAL-A']) {
      const { status, body } = await ask('{ bitrix24Users(ids: ["9"], portal: "portal-a") { id } }', undefined, asBitrix(CAROL, named));
      expect(status).toBe(401);
      expect(body.errors![0]).toEqual({
        message: 'Unauthenticated: the x-caller-bitrix24-portal header names no configured Bitrix24 portal',
        extensions: { code: 'UNAUTHENTICATED', provider: 'bitrix24' },
      });
    }
    // Two portals are configured: a token must say which it is for.
    const unnamed = await ask('{ bitrix24Users(ids: ["9"], portal: "portal-a") { id } }', undefined, asBitrix(CAROL));
    expect([unnamed.status, unnamed.body.errors![0]!.message]).toEqual([
      401,
      "Unauthenticated: several Bitrix24 portals are configured: name the token's portal in x-caller-bitrix24-portal",
    ]);
    expect(upstreamRequests()).toBe(0);
  });

  it('what Node refuses before the subgraph reads it: a CR in a header value (400), a header over 16 KiB (431)', async () => {
    const raw = await rawRequest(`x-caller-x-token: tok\rSECRET-injected: 1`);
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    const huge = await rawRequest(`x-caller-x-token: SECRET${'a'.repeat(20_000)}`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    expect(upstreamRequests()).toBe(0);
  });
});

describe('Bitrix24', () => {
  const BQ = `query($r: [_Any!]!) {
    a: bitrix24Users(ids: ["42", "43"], portal: "portal-a") { id portal name }
    b: bitrix24Users(ids: ["42"], portal: "portal-b") { id portal name }
    _entities(representations: $r) { ... on Bitrix24User { id portal } }
  }`;
  const reps = [
    { __typename: 'Bitrix24User', portal: 'portal-b', id: '44' },
    { __typename: 'Bitrix24User', portal: 'https://evil.example.com', id: '45' },
  ];

  it("a caller's token goes as `auth` to its configured portal's REST base only; other portals keep the server's credentials", async () => {
    const { body } = await ask(BQ, { r: reps }, asBitrix(ALICE, 'portal-a'));
    // portal-a: one request, at the REST base (not the webhook), with alice's token; 42 is hers to see.
    expect(portal('portal-a').requests.map((r) => [r.path, r.auth, r.caller, r.ids])).toEqual([
      ['/rest/im.user.list.get', 'oauth', 'alice', [42, 43]],
    ]);
    expect(body.data.a.map((u: any) => u.id)).toEqual(['42', '43']);
    // portal-b, by argument or by representation: the server's own OAuth token, never alice's.
    expect(portal('portal-b').requests.length).toBeGreaterThan(0);
    expect(portal('portal-b').requests.every((r) => r.auth === 'oauth' && r.caller === undefined)).toBe(true);
    expect(body.data.b).toEqual([{ id: '42', portal: 'portal-b', name: 'Demo User 42' }]);
    // A representation naming a portal that is not configured is refused at that item; nothing is sent for it.
    expect(body.data._entities).toEqual([{ id: '44', portal: 'portal-b' }, null]);
    expect(body.errors!.map((e) => [e.path!.join('.'), e.extensions!.code])).toEqual([['_entities.1', 'BAD_USER_INPUT']]);

    // Without her token, portal-a is asked through its webhook, and 42 is not there: not even from alice's cache.
    h.reset();
    const anonymous = await ask('{ bitrix24Users(ids: ["42", "43"], portal: "portal-a") { id name } }');
    expect(anonymous.body.data.bitrix24Users).toEqual([null, { id: '43', name: 'Demo User 43' }]);
    expect(anonymous.body.errors!.map((e) => e.extensions!.code)).toEqual(['NOT_FOUND']);
    expect(portal('portal-a').requests.map((r) => [r.auth, r.caller, r.ids])).toEqual([['webhook', undefined, [42, 43]]]);
  });

  it("an expired caller token is UNAUTHENTICATED for that caller: nothing renewed with the server's refresh token", async () => {
    portal('portal-b').expireCallerToken('carol');
    const q = '{ bitrix24Users(ids: ["5"], portal: "portal-b") { id } }';
    const carol = await ask(q, undefined, asBitrix(CAROL, 'portal-b'));
    expect(carol.body.data.bitrix24Users).toEqual([null]);
    expect(carol.body.errors![0]).toMatchObject({
      message: "Bitrix24 refused the caller's own credential (expired, revoked, or without access): renew it and send it again",
      extensions: { code: 'UNAUTHENTICATED', provider: 'bitrix24', id: '5' },
    });
    expect(portal('portal-b').requests.map((r) => [r.method, r.status, r.caller])).toEqual([['im.user.list.get', 401, 'carol']]);
    // The server's scope on the same portal is untouched.
    expect((await ask(q)).body).toEqual({ data: { bitrix24Users: [{ id: '5' }] } });
    expect(portal('portal-b').requests.map((r) => r.method)).not.toContain('oauth.token');
  });
});

it('one token sent for X and for Bitrix24 alike: each goes to its own upstream, as two scopes', async () => {
  const { body } = await ask('{ xUsers(ids: ["10"]) { id } bitrix24Users(ids: ["46"], portal: "portal-a") { id } }', undefined, {
    ...asX(ALICE),
    ...asBitrix(ALICE, 'portal-a'),
  });
  expect(body).toEqual({ data: { xUsers: [{ id: '10' }], bitrix24Users: [{ id: '46' }] } });
  expect(principals()).toEqual(['alice']);
  expect(portal('portal-a').requests.map((r) => r.caller)).toEqual(['alice']);
});

it('no token shows in a log line, /metrics, /ready or any answer', async () => {
  const metrics = await (await fetch(`${h.url}/metrics`)).text();
  const ready = await (await fetch(`${h.url}/ready`)).text();
  expect(answers.length).toBeGreaterThan(20);
  expect(h.logs.length).toBeGreaterThan(0);
  for (const [where, text] of [
    ['logs', h.logs.join('\n')],
    ['metrics', metrics],
    ['ready', ready],
    ['answers', answers.join('\n')],
  ] as const) {
    expect(text.includes('SECRET'), where).toBe(false);
  }
});

/** Sends a GraphQL POST with `header` as one raw header line; resolves what came back (Node may refuse it before the app). */
function rawRequest(header: string): Promise<string> {
  const { hostname, port } = new URL(h.url);
  const body = JSON.stringify({ query: '{ xUsers(ids: ["8"]) { id } }' });
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        `POST /graphql HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\n${header}\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    });
    let received = '';
    socket.on('data', (chunk) => {
      received += String(chunk);
    });
    // Node answers a refused request and closes at once, maybe before all of it was written.
    socket.on('close', () => resolve(received));
    socket.on('error', (error) => {
      if (received === '') reject(error);
    });
  });
}
