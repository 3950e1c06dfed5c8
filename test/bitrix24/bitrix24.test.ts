import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BITRIX_OAUTH, BITRIX_TEST_SECRET } from '../../src/providers/bitrix24/emulator/index.js';
import type { Bitrix24Emulator } from '../../src/providers/bitrix24/emulator/server.js';
import { demoIds, type Harness, startHarness } from '../support/harness.js';

/**
 * Bitrix24 over the real server against strict fake portals: HTTP requests per operation, AVATAR_HR
 * pushdown, throttling, OAuth renewal under concurrency, several portals, and the webhook secret
 * never leaving the subgraph.
 */
const usersQuery = 'query($ids: [ID!]!, $portal: String) { bitrix24Users(ids: $ids, portal: $portal) { id portal name } }';

describe('one webhook portal', () => {
  let h: Harness;
  let portal: Bitrix24Emulator;
  beforeAll(async () => {
    h = await startHarness({ env: { MAX_IDS_PER_OPERATION: '5000' } });
    portal = h.emulator('bitrix24').get('portal-a')!;
  });
  afterAll(() => h.close());
  beforeEach(() => h.reset());

  it('120 ids -> one HTTP request (a batch of 3 commands), results aligned, unknown ids null', async () => {
    const ids = [...demoIds(119, 200), '99999'];
    const { body } = await h.gql(usersQuery, { ids });
    expect(body.data.bitrix24Users.slice(0, 119).map((u: any) => u.id)).toEqual(ids.slice(0, 119));
    expect(body.data.bitrix24Users[119]).toBeNull();
    expect(body.data.bitrix24Users[0]).toEqual({ id: '200', portal: 'portal-a', name: 'Demo User 200' });
    expect(body.errors).toEqual([
      expect.objectContaining({ path: ['bitrix24Users', 119], extensions: { code: 'NOT_FOUND', provider: 'bitrix24', id: '99999' } }),
    ]);
    expect(portal.requests).toHaveLength(1);
    expect(portal.requests[0]).toMatchObject({ method: 'batch', commands: 3, status: 200 });
  });

  it('a handful of ids is one plain im.user.list.get', async () => {
    await h.gql(usersQuery, { ids: ['1', '2', '2', '3'] });
    expect(portal.requests).toHaveLength(1);
    expect(portal.requests[0]).toMatchObject({ method: 'im.user.list.get', ids: [1, 2, 3] });
  });

  it('2,000 ids -> one batch request of 40 commands; 2,600 -> two', async () => {
    await h.gql(usersQuery, { ids: demoIds(2000) });
    expect(portal.requests.map((r) => [r.method, r.commands])).toEqual([['batch', 40]]);
    h.reset();
    const { body } = await h.gql(usersQuery, { ids: demoIds(2600) });
    expect(body.errors).toBeUndefined();
    expect(portal.requests.map((r) => [r.method, r.commands]).sort()).toEqual([
      ['batch', 2],
      ['batch', 50],
    ]);
  });

  it("maps Bitrix's empty values and dates: '' and false become null, ATOM dates ISO in UTC", async () => {
    const { body } = await h.gql(`{ bitrix24Users(ids: ["7", "8", "6"]) {
      id idle lastActivityDate mobileLastDate desktopLastDate absent avatar birthday departmentIds
      phones { workPhone personalMobile personalPhone }
    } }`);
    expect(body.errors).toBeUndefined();
    const [u7, u8, u6] = body.data.bitrix24Users;
    expect(u7.idle).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    expect(u8.idle).toBeNull();
    expect(u7.lastActivityDate).toMatch(/Z$/);
    expect(u8.phones).toBeNull(); // phones: false
    expect(u6.avatar).toBeNull(); // avatar: ''
    expect(u7.departmentIds.every((d: string) => /^\d+$/.test(d))).toBe(true);
  });

  it('a QUERY_LIMIT_EXCEEDED (503) is retried', async () => {
    portal.failNext(1, 503);
    const { body } = await h.gql(usersQuery, { ids: ['1', '2'] });
    expect(body.errors).toBeUndefined();
    expect(portal.requests.map((r) => r.status)).toEqual([503, 200]);
  });

  it('a sub-error of one batch command fails only the ids of that command', async () => {
    portal.failCommand(60, 'ACCESS_DENIED');
    const { body } = await h.gql(usersQuery, { ids: demoIds(120) });
    const failed = body.errors!.map((e) => Number(e.extensions!.id));
    expect(failed).toHaveLength(50);
    expect(failed).toContain(60);
    expect(body.errors!.every((e) => e.extensions!.code === 'UNAUTHENTICATED')).toBe(true);
    expect(body.data.bitrix24Users.filter((u: unknown) => u !== null)).toHaveLength(70);
    expect(portal.requests).toHaveLength(1);
  });

  it('the webhook secret appears in no response, log line or metric', async () => {
    portal.failNext(1, 500);
    portal.failNext(1, 503);
    const { body } = await h.gql(usersQuery, { ids: ['1', '77777'] });
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toMatch(/users_subgraph_upstream_requests_total\{provider="bitrix24",method="im.user.list.get",status="500"\}/);
    for (const text of [JSON.stringify(body), h.logs.join('\n'), metrics]) expect(text).not.toContain(BITRIX_TEST_SECRET);
  });
});

describe('several portals', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ emulators: { bitrix24: { portals: [{ name: 'one' }, { name: 'two', oauth: true }] } } });
  });
  afterAll(() => h.close());
  beforeEach(() => h.reset());

  it('one operation reaches each portal once', async () => {
    const { body } = await h.gql(`{
      a: bitrix24Users(ids: ["1", "2"], portal: "one") { id portal }
      b: bitrix24Users(ids: ["2", "3"], portal: "two") { id portal }
    }`);
    expect(body.data).toEqual({
      a: [
        { id: '1', portal: 'one' },
        { id: '2', portal: 'one' },
      ],
      b: [
        { id: '2', portal: 'two' },
        { id: '3', portal: 'two' },
      ],
    });
    expect(h.emulator('bitrix24').get('one')!.requests).toHaveLength(1);
    expect(
      h
        .emulator('bitrix24')
        .get('two')!
        .requests.filter((r) => r.method !== 'oauth.token'),
    ).toHaveLength(1);
  });

  it('without `portal` when several are configured, or with an unknown one: BAD_USER_INPUT, nothing sent', async () => {
    const { body } = await h.gql('{ a: bitrix24Users(ids: ["1"]) { id } b: bitrix24Users(ids: ["1"], portal: "three") { id } }');
    expect(body.errors!.map((e) => e.extensions!.code)).toEqual(['BAD_USER_INPUT', 'BAD_USER_INPUT']);
    expect(body.errors![0]!.message).toContain('name one with the `portal` argument');
    expect(body.errors![1]!.message).toContain('No Bitrix24 portal named "three"');
    // The configured portals are this deployment's business: no error lists them.
    for (const error of body.errors!) expect(error.message).not.toMatch(/\bone\b.*\btwo\b|"two"/);
    expect(h.emulator('bitrix24').get('one')!.requests).toHaveLength(0);
    expect(h.emulator('bitrix24').get('two')!.requests).toHaveLength(0);
  });

  it('an expired OAuth token is renewed once for concurrent operations, and the new pair is kept', async () => {
    const two = h.emulator('bitrix24').get('two')!;
    two.expireAccessToken();
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => h.gql(usersQuery, { ids: [String(i + 1)], portal: 'two' })));
    for (const { body } of results) expect(body.errors).toBeUndefined();
    expect(two.requests.filter((r) => r.method === 'oauth.token')).toHaveLength(1);
    h.reset();
    await h.gql(usersQuery, { ids: ['9'], portal: 'two' });
    expect(two.requests.map((r) => [r.method, r.status])).toEqual([['im.user.list.get', 200]]);
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    for (const secret of [BITRIX_OAUTH.clientSecret, BITRIX_OAUTH.refreshToken, two.currentTokens().accessToken]) {
      expect(h.logs.join('\n')).not.toContain(secret);
      expect(metrics).not.toContain(secret);
    }
  });
});

describe('client-side pacing', () => {
  let h: Harness;
  afterEach(() => h.close());

  it("keeps under the portal's leaky bucket, so QUERY_LIMIT_EXCEEDED does not happen", async () => {
    h = await startHarness({
      emulators: { bitrix24: { portals: [{ name: 'slow', emulator: { bucket: { perSecond: 4, burst: 2 } } }] } },
      // The client paces a little under the portal's bucket: its clock and the portal's round differently.
      env: { BITRIX24_RATE_PER_SECOND: '3', BITRIX24_RATE_BURST: '2' },
    });
    for (let i = 0; i < 5; i++) await h.gql(usersQuery, { ids: [String(i + 1)] });
    const portal = h.emulator('bitrix24').get('slow')!;
    // Without the client's pacing the third request would overflow the portal's bucket (503, then retried).
    expect(portal.requests.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
  });
});

describe("a portal that answers a record under another id's key (issue 20, finding 1)", () => {
  let h: Harness;
  let portal: Bitrix24Emulator;
  beforeAll(async () => {
    h = await startHarness({ env: { BITRIX24_CACHE: '1' } });
    portal = h.emulator('bitrix24').get('portal-a')!;
  });
  afterAll(() => h.close());

  it('files each record by the id it carries: {"6": user 7, "7": user 8} answers user 7 at 7 and nothing at 6; nothing wrong is cached', async () => {
    portal.failNext(1, {
      kind: 'rewrite',
      rewrite: (body) => {
        const answer = JSON.parse(body) as { result: Record<string, { id: number } | null> };
        const shifted: Record<string, unknown> = {};
        for (const [key, user] of Object.entries(answer.result))
          shifted[key] = user === null ? null : { ...user, id: Number(key) + 1, name: `Demo User ${Number(key) + 1}` };
        return JSON.stringify({ ...answer, result: shifted });
      },
    });
    const first = await h.gql(usersQuery, { ids: ['6', '7'] });
    expect(first.body.data.bitrix24Users).toEqual([null, { id: '7', portal: 'portal-a', name: 'Demo User 7' }]);
    expect(first.body.errors).toEqual([
      expect.objectContaining({ path: ['bitrix24Users', 0], extensions: { code: 'UPSTREAM_UNAVAILABLE', provider: 'bitrix24', id: '6' } }),
    ]);
    // Nothing of that answer was cached under a wrong id: user 6 is asked again, and 7 is 7.
    const again = await h.gql(usersQuery, { ids: ['6', '7'] });
    expect(again.body).toEqual({
      data: { bitrix24Users: ['6', '7'].map((id) => ({ id, portal: 'portal-a', name: `Demo User ${id}` })) },
    });
    expect(portal.requests.filter((request) => request.method === 'im.user.list.get')).toHaveLength(2);
    expect(portal.requests[1]).toMatchObject({ ids: [6] });
  });
});
