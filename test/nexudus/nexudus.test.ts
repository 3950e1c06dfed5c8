import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { demoIds, type Harness, startHarness } from '../support/harness.js';

/**
 * Nexudus over the real server against its emulator: one shared token, list calls for partial
 * records, single-record calls only when a full-record field is selected, 409 pacing. That no credential
 * or token leaks, whatever the upstream does: the conformance suite's fault matrix, test/conformance/.
 */
const calls = (h: Harness, kind: 'token' | 'list' | 'single') => h.emulator('nexudus').requests.filter((r) => r.kind === kind);
const query = 'query($ids: [ID!]!) { nexudusUsers(ids: $ids) { id fullName email active } }';

describe('with a username and password', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());
  beforeEach(() => h.reset());

  it('50 ids -> 1 token call + 1 list call, results aligned, unknown ids NOT_FOUND; the token is reused', async () => {
    const ids = [...demoIds(49, 300), '999999'];
    const { body } = await h.gql(query, { ids });
    expect(body.data.nexudusUsers.slice(0, 49).map((u: any) => u.id)).toEqual(ids.slice(0, 49));
    expect(body.data.nexudusUsers[0]).toMatchObject({ id: '300', fullName: 'Demo User 300', email: 'user300@coworking.example' });
    expect(body.data.nexudusUsers[49]).toBeNull();
    expect(body.errors).toEqual([
      expect.objectContaining({ path: ['nexudusUsers', 49], extensions: { code: 'NOT_FOUND', provider: 'nexudus', id: '999999' } }),
    ]);
    expect(calls(h, 'token')).toHaveLength(1);
    expect(calls(h, 'token')[0]!.grantType).toBe('password');
    expect(calls(h, 'list')).toHaveLength(1);
    expect(calls(h, 'single')).toHaveLength(0);

    h.reset();
    // A repeated id is asked once and answered at every index.
    const repeated = await h.gql(query, { ids: ['5', '6', '5'] });
    expect(repeated.body.data.nexudusUsers.map((u: any) => u.id)).toEqual(['5', '6', '5']);
    expect(calls(h, 'list').map((r) => [...r.ids!].sort())).toEqual([[5, 6]]);

    h.reset();
    await h.gql(query, { ids: ['1', '2'] });
    expect(calls(h, 'token')).toHaveLength(0);
    expect(calls(h, 'list')).toHaveLength(1);
  });

  it('a full-record field for 3 users -> exactly 3 single-record calls and no list call', async () => {
    await h.gql(query, { ids: ['1'] }); // a token is in hand
    h.reset();
    const { body } = await h.gql('{ nexudusUsers(ids: ["25", "26", "27"]) { id isAdmin apiAccess lastAccess businessIds roles } }');
    expect(body.errors).toBeUndefined();
    expect(body.data.nexudusUsers[0]).toMatchObject({ id: '25', isAdmin: true, apiAccess: true });
    expect(body.data.nexudusUsers[1]).toMatchObject({ id: '26', isAdmin: false });
    expect(body.data.nexudusUsers[0].businessIds.length).toBeGreaterThan(0);
    // One call per user; a 409 (the emulator throttles as Nexudus does) would add its retry, nothing else.
    const singles = calls(h, 'single').filter((r) => r.status !== 409);
    expect(singles.map((r) => [r.ids, r.status]).sort()).toEqual([
      [[25], 200],
      [[26], 200],
      [[27], 200],
    ]);
    expect(calls(h, 'list')).toHaveLength(0);
  });

  it('partial fields only: never a single-record call', async () => {
    await h.gql(
      '{ nexudusUsers(ids: ["25", "26"]) { id fullName validated twoFactorEnabled createdOn updatedOn uniqueId defaultBusinessId } }',
    );
    expect(calls(h, 'single')).toHaveLength(0);
    expect(calls(h, 'list')).toHaveLength(1);
  });

  it('a 409 is retried after its Retry-After', async () => {
    await h.gql(query, { ids: ['1'] });
    h.reset();
    h.emulator('nexudus').failNext(1, 409);
    const { body } = await h.gql(query, { ids: ['1', '2'] });
    expect(body.errors).toBeUndefined();
    expect(calls(h, 'list').map((r) => r.status)).toEqual([409, 200]);
  });

  it('a token the API stops accepting is re-obtained once, shared by concurrent operations', async () => {
    await h.gql(query, { ids: ['1'] });
    h.reset();
    h.emulator('nexudus').expireTokens();
    const results = await Promise.all([1, 2, 3].map((i) => h.gql(query, { ids: [String(i)] })));
    for (const { body } of results) expect(body.errors).toBeUndefined();
    expect(calls(h, 'token')).toHaveLength(1);
    expect(calls(h, 'token')[0]!.grantType).toBe('refresh_token');
  });
});

describe('token lifecycle', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('a token close to expiry is renewed with the refresh token before it is refused', async () => {
    h = await startHarness({ emulators: { nexudus: { tokenTtlSeconds: 1 } } });
    await h.gql(query, { ids: ['1'] });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    h.reset();
    const { body } = await h.gql(query, { ids: ['2'] });
    expect(body.errors).toBeUndefined();
    expect(calls(h, 'token').map((r) => r.grantType)).toEqual(['refresh_token']);
    expect(calls(h, 'list').map((r) => r.status)).toEqual([200]);
  });

  it('NEXUDUS_TOKEN is used as is: no token call', async () => {
    h = await startHarness({ emulators: { nexudus: { auth: 'token' } } });
    const { body } = await h.gql(query, { ids: ['1'] });
    expect(body.errors).toBeUndefined();
    expect(calls(h, 'token')).toHaveLength(0);
  });

  it('wrong credentials answer UNAUTHENTICATED', async () => {
    h = await startHarness({ emulators: { nexudus: { password: 'something-else' } } });
    const { body } = await h.gql(query, { ids: ['1'] });
    expect(body.errors![0]!.extensions).toMatchObject({ code: 'UNAUTHENTICATED', provider: 'nexudus', id: '1' });
    expect(calls(h, 'list')).toHaveLength(0);
  });
});
