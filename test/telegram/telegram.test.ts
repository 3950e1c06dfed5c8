import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { demoIds, type Harness, startHarness } from '../support/harness.js';

/**
 * Telegram over the real server: the subgraph's client, loaders and error mapping against the
 * in-process MTProto emulator, counting the RPCs it answers.
 */
const rpcs = (h: Harness, method = 'users.getUsers') => h.emulator('telegram').rpcs.filter((r) => r.method === method);

describe('as a bot (the demo set-up)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ emulators: { telegram: { emptyIds: [4242] } } });
  });
  afterAll(() => h.close());
  beforeEach(() => h.reset());

  it('an unknown id and a userEmpty are null with NOT_FOUND at their index; duplicates are asked once', async () => {
    const { body } = await h.gql('{ telegramUsers(ids: ["5", "20000", "4242", "5"]) { id } }');
    expect(body.data.telegramUsers).toEqual([{ id: '5' }, null, null, { id: '5' }]);
    const errors = body.errors!.map((e) => [e.path!.join('.'), e.extensions!.code, e.extensions!.id]);
    expect(errors).toEqual(
      expect.arrayContaining([
        ['telegramUsers.1', 'NOT_FOUND', '20000'],
        ['telegramUsers.2', 'NOT_FOUND', '4242'],
      ]),
    );
    expect(errors).toHaveLength(2);
    expect(rpcs(h)).toHaveLength(1);
    expect(rpcs(h)[0]!.ids!.sort()).toEqual([20000, 4242, 5].sort());
  });

  it('maps the TL user: names, usernames, flags, typed status and photo', async () => {
    const { body } = await h.gql(`{ telegramUsers(ids: ["25", "48", "999", "2"]) {
      id provider displayName avatarUrl firstName lastName username usernames phone bot verified premium deleted langCode
      status { presence onlineUntil lastSeenAt } hasPhoto photo { photoId dcId hasVideo personal }
    } }`);
    expect(body.errors).toBeUndefined();
    const [u25, u48, u999, u2] = body.data.telegramUsers;
    expect(u25).toMatchObject({ id: '25', provider: 'TELEGRAM', displayName: 'Demo User 25', avatarUrl: null, username: 'tg_user25' });
    expect(u25.usernames).toEqual(expect.arrayContaining(['tg_user25', 'tg_vip25']));
    expect(u48.phone).toMatch(/^\+999/);
    expect(u48.hasPhoto).toBe(false);
    expect(u48.photo).toBeNull();
    expect(u25.hasPhoto).toBe(true);
    expect(u25.photo).toEqual({ photoId: expect.stringMatching(/^\d+$/), dcId: 2, hasVideo: false, personal: false });
    expect(u999).toMatchObject({ deleted: true, username: null, hasPhoto: false });
    // Status kinds cycle through the demo ids: every presence maps, with its time where it has one.
    const statuses = (
      await h.gql('query($ids: [ID!]) { telegramUsers(ids: $ids) { status { presence onlineUntil lastSeenAt } } }', { ids: demoIds(6, 60) })
    ).body.data.telegramUsers.map((u: any) => u.status);
    expect(new Set(statuses.map((s: any) => s.presence))).toEqual(
      new Set(['ONLINE', 'OFFLINE', 'RECENTLY', 'WITHIN_WEEK', 'WITHIN_MONTH', 'HIDDEN']),
    );
    for (const s of statuses) {
      expect(s.onlineUntil === null).toBe(s.presence !== 'ONLINE');
      expect(s.lastSeenAt === null).toBe(s.presence !== 'OFFLINE');
    }
    expect(u2.status.presence).toEqual(expect.any(String));
  });

  it('usernames: an unseen one costs one resolveUsername; then ids and known usernames share one getUsers', async () => {
    const op = 'query($ids: [ID!], $names: [String!]) { telegramUsers(ids: $ids, usernames: $names) { id username } }';
    const vars = { ids: ['1', '2'], names: ['tg_user3', '@TG_USER4', 'nobody_here_at_all'] };
    const first = await h.gql(op, vars);
    expect(first.body.data.telegramUsers.map((u: any) => u?.id ?? null)).toEqual(['1', '2', '3', '4', null]);
    expect(first.body.errors).toEqual([
      expect.objectContaining({
        path: ['telegramUsers', 4],
        extensions: { code: 'NOT_FOUND', provider: 'telegram', id: 'nobody_here_at_all' },
      }),
    ]);
    expect(rpcs(h, 'contacts.resolveUsername')).toHaveLength(3);
    expect(rpcs(h)).toHaveLength(1);

    h.reset();
    const second = await h.gql(op, vars);
    expect(second.body.data).toEqual(first.body.data);
    // Both usernames are in the peer cache now, and the miss is remembered: no resolution at all,
    // and the four users come back in one RPC.
    expect(rpcs(h, 'contacts.resolveUsername')).toHaveLength(0);
    expect(rpcs(h)).toHaveLength(1);
    expect(rpcs(h)[0]!.ids!.sort()).toEqual([1, 2, 3, 4]);
  });

  it('malformed ids and usernames are refused before any RPC', async () => {
    const badId = await h.gql('{ telegramUsers(ids: ["-5", "9007199254740993"], usernames: ["x", "a b c d"]) { id } }');
    expect(badId.status).toBe(200);
    expect(badId.body.data.telegramUsers).toEqual([null, null, null, null]);
    expect(badId.body.errors!.map((e) => [e.path, e.extensions!.code, e.extensions!.id])).toEqual([
      [['telegramUsers', 0], 'BAD_USER_INPUT', '-5'],
      [['telegramUsers', 1], 'BAD_USER_INPUT', '9007199254740993'],
      [['telegramUsers', 2], 'BAD_USER_INPUT', 'x'],
      [['telegramUsers', 3], 'BAD_USER_INPUT', 'a b c d'],
    ]);
    expect(h.emulator('telegram').rpcs).toHaveLength(0);
  });

  it('a guessed access hash that Telegram refuses (PEER_ID_INVALID) fails only the unseen ids', async () => {
    // Users 7 and 8 become known (cached hashes) through a lookup; 9 is never seen.
    await h.gql('{ telegramUsers(usernames: ["tg_user7", "tg_user8"]) { id } }');
    h.reset();
    h.emulator('telegram').failNext(1, 400, 'PEER_ID_INVALID');
    const { body } = await h.gql('{ telegramUsers(ids: ["7", "9", "8"]) { id } }');
    expect(body.data.telegramUsers).toEqual([{ id: '7' }, null, { id: '8' }]);
    expect(body.errors![0]).toMatchObject({ path: ['telegramUsers', 1], extensions: { code: 'NOT_FOUND', id: '9' } });
    expect(body.errors![0]!.message).toContain('this bot has never seen it');
    const calls = rpcs(h);
    expect(calls.map((c) => c.outcome)).toEqual(['PEER_ID_INVALID', 'ok']);
    expect(calls[1]!.ids!.sort()).toEqual([7, 8]);
  });
});

describe('errors', () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  it('FLOOD_WAIT under the threshold is waited out and retried; both RPCs are counted', async () => {
    // Calls go in the turn they are asked (COALESCE_WINDOW_MS=0): the clock then has only the retry's wait.
    const clock = new ManualClock();
    h = await startHarness({ env: { TELEGRAM_FLOOD_WAIT_THRESHOLD_SECONDS: '3', COALESCE_WINDOW_MS: '0' }, clock });
    const metric = async () => {
      const text = await (await fetch(`${h.url}/metrics`)).text();
      const count = (status: string) =>
        Number(
          text.match(
            new RegExp(`users_subgraph_upstream_requests_total\\{provider="telegram",method="users.getUsers",status="${status}"\\} (\\d+)`),
          )?.[1] ?? 0,
        );
      return { flood: count('420'), ok: count('200') };
    };
    const before = await metric();
    h.emulator('telegram').failNext(1, 420, 'FLOOD_WAIT_1');
    const answer = h.gql('{ telegramUsers(ids: ["1"]) { id } }');
    // The retry waits the second Telegram asked for (plus at most 100 ms of jitter), not a moment less.
    await clock.timerSet();
    await clock.advance(999);
    expect(rpcs(h)).toHaveLength(1);
    await clock.advance(101);
    const { body } = await answer;
    expect(body.errors).toBeUndefined();
    expect(rpcs(h).map((c) => c.outcome)).toEqual(['FLOOD_WAIT_1', 'ok']);
    const after = await metric();
    expect(after.flood - before.flood).toBe(1);
    expect(after.ok - before.ok).toBe(1);
  });

  it('FLOOD_WAIT over the threshold answers RATE_LIMITED with retryAfter at once', async () => {
    // On a clock that never moves: an answer at all proves nothing was waited out. (Calls go in the turn
    // they are asked, COALESCE_WINDOW_MS=0: the coalescing window would wait on this clock too.)
    const clock = new ManualClock();
    h = await startHarness({ env: { TELEGRAM_FLOOD_WAIT_THRESHOLD_SECONDS: '3', COALESCE_WINDOW_MS: '0' }, clock });
    h.emulator('telegram').failNext(1, 420, 'FLOOD_WAIT_300');
    const { status, body } = await h.gql('{ telegramUsers(ids: ["1", "2"]) { id } x: xUsers(ids: ["1"]) { id } }');
    expect(clock.pending).toBe(0);
    expect(status).toBe(200);
    expect(body.data).toEqual({ telegramUsers: [null, null], x: [{ id: '1' }] });
    expect(body.errors!.map((e) => e.extensions)).toEqual([
      { code: 'RATE_LIMITED', provider: 'telegram', id: '1', retryAfter: 300 },
      { code: 'RATE_LIMITED', provider: 'telegram', id: '2', retryAfter: 300 },
    ]);
    expect(rpcs(h)).toHaveLength(1);
  });

  it('usernames never seen count towards MAX_IDS_PER_OPERATION: beyond it each fails alone, and costs no resolveUsername', async () => {
    h = await startHarness({ env: { MAX_IDS_PER_OPERATION: '3' } });
    const names = ['tg_user11', 'tg_user12', 'tg_user13', 'tg_user14', 'tg_user15'];
    const { status, body } = await h.gql('query($names: [String!]) { telegramUsers(usernames: $names) { id } }', { names });
    expect(status).toBe(200);
    expect(body.data.telegramUsers.map((u: { id: string } | null) => u?.id ?? null)).toEqual(['11', '12', '13', null, null]);
    expect(body.errors!.map((e) => [e.path, e.extensions!.code])).toEqual([
      [['telegramUsers', 3], 'BAD_USER_INPUT'],
      [['telegramUsers', 4], 'BAD_USER_INPUT'],
    ]);
    expect(rpcs(h, 'contacts.resolveUsername')).toHaveLength(3);
  });

  it('an auth error is UNAUTHENTICATED, not retried; an internal error is retried', async () => {
    h = await startHarness();
    h.emulator('telegram').failNext(1, 401, 'AUTH_KEY_UNREGISTERED');
    const auth = await h.gql('{ telegramUsers(ids: ["1"]) { id } }');
    expect(auth.body.errors![0]!.extensions).toMatchObject({ code: 'UNAUTHENTICATED', provider: 'telegram' });
    expect(rpcs(h)).toHaveLength(1);
    h.reset();
    h.emulator('telegram').failNext(1, 500, 'RPC_CALL_FAIL');
    const retried = await h.gql('{ telegramUsers(ids: ["1"]) { id } }');
    expect(retried.body.errors).toBeUndefined();
    expect(rpcs(h).map((c) => c.outcome)).toEqual(['RPC_CALL_FAIL', 'ok']);
  });
});

describe('as a user account', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ emulators: { telegram: { isBot: false, acceptZeroAccessHash: false } } });
  });
  afterAll(() => h.close());
  beforeEach(() => h.reset());

  it('an id the account has never seen is NOT_FOUND with a message saying so, and costs no RPC', async () => {
    const { body } = await h.gql('{ telegramUsers(ids: ["31"]) { id } }');
    expect(body.data.telegramUsers).toEqual([null]);
    expect(body.errors![0]!.extensions).toMatchObject({ code: 'NOT_FOUND', provider: 'telegram', id: '31' });
    expect(body.errors![0]!.message).toContain('never seen');
    expect(h.emulator('telegram').rpcs).toHaveLength(0);
  });

  it('once seen (here through its username), the id is looked up with the cached access hash', async () => {
    await h.gql('{ telegramUsers(usernames: ["tg_user32"]) { id } }');
    h.reset();
    const { body } = await h.gql('{ telegramUsers(ids: ["32"]) { id firstName } }');
    expect(body.errors).toBeUndefined();
    expect(body.data.telegramUsers).toEqual([{ id: '32', firstName: 'Demo' }]);
    expect(rpcs(h)).toHaveLength(1);
  });
});
