/**
 * Tests the Nexudus emulator over real HTTP (fetch): the OWIN token endpoint (password and refresh
 * grants, form-only), bearer auth on the user endpoints, partial records from the batch endpoint vs the
 * full record, id-list parsing, throttling as 409 + `Retry-After: 1` with an empty body, injected faults,
 * and that `requests` never keeps a secret. Bodies are checked against the wire shapes (wire-extras.ts)
 * and Nexudus's "Get Users by Id" and "Get one User" pages. Time-based behaviour (token expiry,
 * throttling) runs on a manual clock: a test moves time instead of sleeping.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualEmulatorClock } from '../../../emulators/clock.js';
import { NEXUDUS_ID_PATTERN } from '../wire.js';
import { demoNexudusUser, NEXUDUS_DEMO_MAX_ID, NEXUDUS_DEMO_ROLE_ID, partialNexudusUser } from './demo-data.js';
import { type NexudusEmulator, type NexudusEmulatorOptions, startNexudusEmulator } from './server.js';
import { NEXUDUS_PARTIAL_FIELDS, type NexudusApiUser, type NexudusTokenResponse } from './wire-extras.js';

const USERNAME = 'integrations@coworking.example';
const PASSWORD = 'S3cret-pa55word!';
const STATIC_TOKEN = 'static-bearer-token-0123456789';
const DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const DENIED = { Message: 'Authorization has been denied for this request.' };
const INVALID = { Message: 'The request is invalid.' };

interface Answer {
  status: number;
  text: string;
  headers: Headers;
  /** Parsed JSON, or undefined for an empty / non-JSON body. */
  json: unknown;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  const isJson = /^application\/json/.test(res.headers.get('content-type') ?? '');
  return { status: res.status, text, headers: res.headers, json: isJson ? (JSON.parse(text) as unknown) : undefined };
}

const postForm = (url: string, body: string): Promise<Answer> =>
  call(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });

const passwordForm = (username = USERNAME, password = PASSWORD): string =>
  new URLSearchParams({ grant_type: 'password', username, password }).toString();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A manual emulator clock at a fixed instant. */
const manualClock = (): ManualEmulatorClock => new ManualEmulatorClock(Date.UTC(2026, 2, 1, 9, 30));

/** Starts an emulator for one test and always closes it. */
async function withEmulator(options: Partial<NexudusEmulatorOptions>, body: (emu: NexudusEmulator) => Promise<void>): Promise<void> {
  const emu = await startNexudusEmulator({ username: USERNAME, password: PASSWORD, staticToken: STATIC_TOKEN, ...options });
  try {
    await body(emu);
  } finally {
    await emu.close();
  }
}

async function passwordGrant(emu: NexudusEmulator): Promise<NexudusTokenResponse> {
  const a = await postForm(`${emu.url}/api/token`, passwordForm());
  expect(a.status, a.text).toBe(200);
  return a.json as NexudusTokenResponse;
}

const get = (emu: NexudusEmulator, pathAndQuery: string, token?: string): Promise<Answer> =>
  call(`${emu.url}${pathAndQuery}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

/** The 409 a throttled (or fault-injected) request gets: Retry-After: 1 and nothing else. */
function expectThrottled(a: Answer): void {
  expect(a.status).toBe(409);
  expect(a.headers.get('retry-after')).toBe('1');
  expect(a.text).toBe('');
  expect(a.headers.get('content-type')).toBeNull();
}

describe('demo data', () => {
  it('is deterministic and follows the wire shapes', () => {
    expect(NEXUDUS_DEMO_MAX_ID).toBe(10_000);
    expect(demoNexudusUser(42)).toEqual(demoNexudusUser(42));
    const u = demoNexudusUser(14);
    expect(u).toMatchObject({
      Id: 14,
      FullName: 'Demo User 14',
      ToStringText: 'Demo User 14',
      Email: 'user14@coworking.example',
      Active: true,
      Validated: true,
      TwoFactorEnabled: false,
      Businesses: [102],
      DefaultBusinessId: 102,
      UserRoles: [NEXUDUS_DEMO_ROLE_ID],
      AvatarFileName: 'avatar-14.png',
      IsAdmin: false,
      APIAccess: false,
      MustResetPassword: false,
      AccessToken: null,
      Password: null,
      NewPassword: null,
      TwoFactorSecret: null,
    });
    expect(u.UniqueId).toMatch(GUID);
    for (const d of [u.CreatedOn, u.UpdatedOn, u.LastAccess]) expect(d).toMatch(DATE);
    expect(Date.parse(u.UpdatedOn)).toBeGreaterThanOrEqual(Date.parse(u.CreatedOn));
    // LastAccess: within the 30 days before 2026-11-01, null for id % 6 === 0.
    expect(Date.parse(u.LastAccess ?? '')).toBeLessThanOrEqual(Date.UTC(2026, 10, 1));
    expect(Date.parse(u.LastAccess ?? '')).toBeGreaterThan(Date.UTC(2026, 9, 1));
    expect(demoNexudusUser(12).LastAccess).toBeNull();
    expect(demoNexudusUser(15).AvatarFileName).toBeNull();
    expect(demoNexudusUser(10)).toMatchObject({ Active: false, Businesses: [101, 200], APIAccess: true, UserRoles: [] });
    expect(demoNexudusUser(36)).toMatchObject({ Validated: false, TwoFactorEnabled: true, MustResetPassword: true });
    expect(demoNexudusUser(175)).toMatchObject({ IsAdmin: true, APIAccess: true, UserRoles: [NEXUDUS_DEMO_ROLE_ID] });
  });

  it('gives every user a distinct GUID and varied notification flags', () => {
    const users = Array.from({ length: NEXUDUS_DEMO_MAX_ID }, (_, i) => demoNexudusUser(i + 1));
    expect(new Set(users.map((u) => u.UniqueId)).size).toBe(NEXUDUS_DEMO_MAX_ID);
    expect(users.every((u) => GUID.test(u.UniqueId) && NEXUDUS_ID_PATTERN.test(String(u.Id)))).toBe(true);
    expect(new Set(users.map((u) => u.OnNewEmail))).toEqual(new Set([true, false]));
    expect(demoNexudusUser(3).OnNewEmail).not.toBe(demoNexudusUser(4).OnNewEmail);
    expect(new Set(users.map((u) => u.Language))).toEqual(new Set([1, 2, 3]));
  });

  it('partial records empty exactly the NEXUDUS_PARTIAL_FIELDS, even for an admin', () => {
    const full = demoNexudusUser(175);
    const partial = partialNexudusUser(full);
    expect(Object.keys(partial)).toEqual(Object.keys(full));
    for (const field of NEXUDUS_PARTIAL_FIELDS) {
      expect([false, null, 0, []], field).toContainEqual(partial[field]);
    }
    expect(partial).toMatchObject({ IsAdmin: false, APIAccess: false, LastAccess: null, Businesses: [], UserRoles: [] });
    const rest = (u: NexudusApiUser): Record<string, unknown> =>
      Object.fromEntries(Object.entries(u).filter(([k]) => !(NEXUDUS_PARTIAL_FIELDS as readonly string[]).includes(k)));
    expect(rest(partial)).toEqual(rest(full));
    expect(full.IsAdmin).toBe(true); // the input is not mutated
  });
});

describe('Nexudus emulator', () => {
  let emu: NexudusEmulator;

  beforeAll(async () => {
    emu = await startNexudusEmulator({ username: USERNAME, password: PASSWORD, staticToken: STATIC_TOKEN, throttle: false });
  });
  afterAll(async () => {
    await emu.close();
    await emu.close(); // idempotent
  });
  beforeEach(() => emu.reset());

  describe('POST /api/token', () => {
    it('password grant (form): the OWIN token response, a token that works', async () => {
      const a = await postForm(`${emu.url}/api/token`, passwordForm());
      expect(a.status).toBe(200);
      expect(a.headers.get('content-type')).toMatch(/^application\/json/);
      expect(a.headers.get('cache-control')).toBe('no-cache');
      const t = a.json as NexudusTokenResponse;
      expect(Object.keys(t).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'token_type']);
      expect(t.token_type).toBe('bearer');
      expect(t.expires_in).toBe(604_799);
      expect(t.access_token.length).toBeGreaterThan(40);
      expect(t.refresh_token).not.toBe(t.access_token);
      expect((await get(emu, '/api/sys/users/5', t.access_token)).status).toBe(200);
      const again = await passwordGrant(emu);
      expect(again.access_token).not.toBe(t.access_token);
      expect(again.refresh_token).not.toBe(t.refresh_token);
    });

    it('bad credentials: 400 invalid_grant', async () => {
      for (const form of [passwordForm(USERNAME, 'wrong'), passwordForm('someone@else.example', PASSWORD), 'grant_type=password']) {
        const a = await postForm(`${emu.url}/api/token`, form);
        expect(a.status).toBe(400);
        expect(a.json).toEqual({ error: 'invalid_grant', error_description: 'The user name or password is incorrect.' });
      }
    });

    it('refuses JSON and non-form bodies, unknown grants and GET: 400 unsupported_grant_type', async () => {
      const json = await call(`${emu.url}/api/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'password', username: USERNAME, password: PASSWORD }),
      });
      const plain = await call(`${emu.url}/api/token`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: passwordForm() });
      const unknown = await postForm(`${emu.url}/api/token`, 'grant_type=client_credentials');
      const missing = await postForm(`${emu.url}/api/token`, `username=${USERNAME}`);
      const viaGet = await call(`${emu.url}/api/token?${passwordForm()}`);
      for (const a of [json, plain, unknown, missing, viaGet]) {
        expect(a.status, a.text).toBe(400);
        expect(a.json).toEqual({ error: 'unsupported_grant_type' });
      }
    });

    it('refresh grant: a new pair; the redeemed refresh token is single-use; earlier access tokens keep working', async () => {
      const first = await passwordGrant(emu);
      const a = await postForm(`${emu.url}/api/token`, `grant_type=refresh_token&refresh_token=${first.refresh_token}`);
      expect(a.status, a.text).toBe(200);
      const second = a.json as NexudusTokenResponse;
      expect(second.token_type).toBe('bearer');
      expect(second.access_token).not.toBe(first.access_token);
      expect(second.refresh_token).not.toBe(first.refresh_token);
      expect((await get(emu, '/api/sys/users/1', second.access_token)).status).toBe(200);
      expect((await get(emu, '/api/sys/users/1', first.access_token)).status).toBe(200);

      const reused = await postForm(`${emu.url}/api/token`, `grant_type=refresh_token&refresh_token=${first.refresh_token}`);
      expect(reused.status).toBe(400);
      expect(reused.json).toEqual({ error: 'invalid_grant' });
      for (const form of ['grant_type=refresh_token&refresh_token=nope', 'grant_type=refresh_token']) {
        expect((await postForm(`${emu.url}/api/token`, form)).json).toEqual({ error: 'invalid_grant' });
      }
    });
  });

  describe('authorization', () => {
    it('401 without a token, with a bad one, or with another scheme', async () => {
      const answers = [
        await get(emu, '/api/sys/users/1'),
        await get(emu, '/api/sys/users/?id=[1,2]'),
        await get(emu, '/api/sys/users/1', 'not-a-token'),
        await call(`${emu.url}/api/sys/users/1`, {
          headers: { authorization: `Basic ${Buffer.from(`${USERNAME}:${PASSWORD}`).toString('base64')}` },
        }),
        await call(`${emu.url}/api/sys/users/1`, { headers: { authorization: STATIC_TOKEN } }),
      ];
      for (const a of answers) {
        expect(a.status).toBe(401);
        expect(a.json).toEqual(DENIED);
        expect(a.headers.get('www-authenticate')).toBe('Bearer');
      }
    });

    it('accepts the static token, also after expireTokens()', async () => {
      expect((await get(emu, '/api/sys/users/1', STATIC_TOKEN)).status).toBe(200);
      emu.expireTokens();
      expect((await get(emu, '/api/sys/users/1', STATIC_TOKEN)).status).toBe(200);
      // The scheme is case-insensitive.
      expect((await call(`${emu.url}/api/sys/users/1`, { headers: { authorization: `bearer ${STATIC_TOKEN}` } })).status).toBe(200);
    });

    it('expireTokens(): issued access tokens answer 401; refresh tokens still work', async () => {
      const t = await passwordGrant(emu);
      expect((await get(emu, '/api/sys/users/1', t.access_token)).status).toBe(200);
      emu.expireTokens();
      const expired = await get(emu, '/api/sys/users/?id=[1]', t.access_token);
      expect(expired.status).toBe(401);
      expect(expired.json).toEqual(DENIED);
      const refreshed = await postForm(`${emu.url}/api/token`, `grant_type=refresh_token&refresh_token=${t.refresh_token}`);
      expect(refreshed.status).toBe(200);
      expect((await get(emu, '/api/sys/users/1', (refreshed.json as NexudusTokenResponse).access_token)).status).toBe(200);
    });

    it('access tokens expire after tokenTtlSeconds', async () => {
      const clock = manualClock();
      await withEmulator({ tokenTtlSeconds: 1, throttle: false, clock }, async (short) => {
        const t = await passwordGrant(short);
        expect(t.expires_in).toBe(1);
        expect((await get(short, '/api/sys/users/1', t.access_token)).status).toBe(200);
        clock.advance(999);
        expect((await get(short, '/api/sys/users/1', t.access_token)).status).toBe(200);
        clock.advance(1);
        expect((await get(short, '/api/sys/users/1', t.access_token)).status).toBe(401);
        // The static token never expires.
        expect((await get(short, '/api/sys/users/1', STATIC_TOKEN)).status).toBe(200);
      });
    });
  });

  describe('GET /api/sys/users/?id=[..]', () => {
    it('a bare array of partial records, reversed, unknown ids absent, duplicates once', async () => {
      const a = await get(emu, '/api/sys/users/?id=[175,3,10001,999999999999,7,3]', STATIC_TOKEN);
      expect(a.status, a.text).toBe(200);
      expect(a.headers.get('content-type')).toMatch(/^application\/json/);
      const users = a.json as NexudusApiUser[];
      expect(Array.isArray(users)).toBe(true);
      expect(users.map((u) => u.Id)).toEqual([7, 3, 175]);
      expect(users).toEqual([7, 3, 175].map((id) => partialNexudusUser(demoNexudusUser(id))));
      // 175 is an admin with API access, a role and two locations in its full record; none of it shows here.
      const admin = users[2];
      expect(demoNexudusUser(175)).toMatchObject({ IsAdmin: true, APIAccess: true });
      expect(admin).toMatchObject({ Id: 175, FullName: 'Demo User 175', Email: 'user175@coworking.example', DefaultBusinessId: 101 });
      for (const field of NEXUDUS_PARTIAL_FIELDS) expect([false, null, 0, []], field).toContainEqual(admin?.[field]);
      expect(admin).toMatchObject({
        IsAdmin: false,
        APIAccess: false,
        MustResetPassword: false,
        LastAccess: null,
        Businesses: [],
        UserRoles: [],
      });
    });

    it('accepts raw and URL-encoded brackets, without the trailing slash too', async () => {
      const forms = [
        '/api/sys/users/?id=[1,2]',
        '/api/sys/users/?id=%5B1%2C2%5D',
        '/api/sys/users/?id=%5B1,2%5D',
        '/api/sys/users?id=[1,2]',
      ];
      for (const form of forms) {
        const a = await get(emu, form, STATIC_TOKEN);
        expect(a.status, form).toBe(200);
        expect(
          (a.json as NexudusApiUser[]).map((u) => u.Id),
          form,
        ).toEqual([2, 1]);
      }
      const none = await get(emu, '/api/sys/users/?id=[10001,20000]', STATIC_TOKEN);
      expect(none.status).toBe(200);
      expect(none.json).toEqual([]);
    });

    it('malformed id lists: 400 "The request is invalid."', async () => {
      const bad = ['[]', '1,2', '[1,,2]', '[0]', '[01]', '[-1]', '[1.5]', '[a]', '[1;2]', '[1%20,2]', '[1,2', '[1234567890123]', ''];
      for (const value of bad) {
        const a = await get(emu, `/api/sys/users/?id=${value}`, STATIC_TOKEN);
        expect(a.status, value).toBe(400);
        expect(a.json, value).toEqual(INVALID);
      }
      expect((await get(emu, '/api/sys/users/?id=[1]&id=[2]', STATIC_TOKEN)).status).toBe(400);
    });

    it('without id (the search endpoint) is not emulated: 404', async () => {
      const a = await get(emu, '/api/sys/users', STATIC_TOKEN);
      expect(a.status).toBe(404);
      expect((a.json as { Message: string }).Message).toMatch(/^No HTTP resource was found/);
    });
  });

  describe('GET /api/sys/users/{id}', () => {
    it('the full record', async () => {
      const a = await get(emu, '/api/sys/users/175', STATIC_TOKEN);
      expect(a.status).toBe(200);
      expect(a.json).toEqual(demoNexudusUser(175));
      expect(a.json).toMatchObject({ IsAdmin: true, APIAccess: true, UserRoles: [NEXUDUS_DEMO_ROLE_ID], Businesses: [101, 200] });
      expect(JSON.parse(a.text)).toEqual(JSON.parse(JSON.stringify(demoNexudusUser(175))));
    });

    it('404 for an unknown id, 400 for a non-id, 405 for other methods', async () => {
      for (const id of ['10001', '999999999999']) {
        const a = await get(emu, `/api/sys/users/${id}`, STATIC_TOKEN);
        expect(a.status, id).toBe(404);
        expect((a.json as { Message: string }).Message).toBe(
          `No HTTP resource was found that matches the request URI '${emu.url}/api/sys/users/${id}'.`,
        );
      }
      for (const id of ['abc', '0', '007', '%zz']) {
        const a = await get(emu, `/api/sys/users/${id}`, STATIC_TOKEN);
        expect(a.status, id).toBe(400);
        expect(a.json).toEqual(INVALID);
      }
      const post = await call(`${emu.url}/api/sys/users/1`, { method: 'POST', headers: { authorization: `Bearer ${STATIC_TOKEN}` } });
      expect(post.status).toBe(405);
      expect(post.headers.get('allow')).toBe('GET');
      expect((await get(emu, '/api/other', STATIC_TOKEN)).status).toBe(404);
    });

    it('maxKnownId bounds the known users', async () => {
      await withEmulator({ maxKnownId: 5, throttle: false }, async (small) => {
        expect((await get(small, '/api/sys/users/5', STATIC_TOKEN)).status).toBe(200);
        expect((await get(small, '/api/sys/users/6', STATIC_TOKEN)).status).toBe(404);
        const list = await get(small, '/api/sys/users/?id=[4,5,6]', STATIC_TOKEN);
        expect((list.json as NexudusApiUser[]).map((u) => u.Id)).toEqual([5, 4]);
      });
    });
  });

  describe('throttling', () => {
    it('a second request within minIntervalMs: 409, Retry-After: 1, empty body; per token; token endpoint exempt', async () => {
      await withEmulator({ throttle: { minIntervalMs: 60_000, perMinute: 100, perHour: 100 }, clock: manualClock() }, async (t) => {
        const issued = await passwordGrant(t);
        expect((await get(t, '/api/sys/users/1', issued.access_token)).status).toBe(200);
        expectThrottled(await get(t, '/api/sys/users/?id=[1]', issued.access_token));
        expectThrottled(await get(t, '/api/sys/users/1', issued.access_token));
        // Another token has its own window; the token endpoint is never throttled.
        expect((await get(t, '/api/sys/users/1', STATIC_TOKEN)).status).toBe(200);
        expect((await postForm(`${t.url}/api/token`, passwordForm())).status).toBe(200);
        expect((await postForm(`${t.url}/api/token`, passwordForm())).status).toBe(200);
        // Auth comes first: a bad token is 401, not 409.
        expect((await get(t, '/api/sys/users/1', 'bad')).status).toBe(401);
        t.reset();
        expect((await get(t, '/api/sys/users/1', issued.access_token)).status).toBe(200);
      });
    });

    it('passes again once minIntervalMs has elapsed since the last accepted request', async () => {
      const clock = manualClock();
      await withEmulator({ throttle: { minIntervalMs: 150, perMinute: 100, perHour: 100 }, clock }, async (t) => {
        expect((await get(t, '/api/sys/users/1', STATIC_TOKEN)).status).toBe(200);
        clock.advance(149);
        expectThrottled(await get(t, '/api/sys/users/1', STATIC_TOKEN));
        clock.advance(1); // the refused request did not restart the interval
        expect((await get(t, '/api/sys/users/1', STATIC_TOKEN)).status).toBe(200);
      });
    });

    it('perMinute and perHour caps, sliding; refused requests spend nothing', async () => {
      const clock = manualClock();
      await withEmulator({ throttle: { minIntervalMs: 0, perMinute: 3, perHour: 100 }, clock }, async (t) => {
        const statuses: number[] = [];
        for (let i = 0; i < 5; i++) {
          statuses.push((await get(t, `/api/sys/users/${i + 1}`, STATIC_TOKEN)).status);
          clock.advance(10_000);
        }
        expect(statuses).toEqual([200, 200, 200, 409, 409]);
        expectThrottled(await get(t, '/api/sys/users/?id=[1,2]', STATIC_TOKEN));
        const other = await passwordGrant(t);
        expect((await get(t, '/api/sys/users/1', other.access_token)).status).toBe(200);
        // 50 s in: the first request leaves the sliding minute at 60 s, the second at 70 s.
        clock.advance(9_999);
        expectThrottled(await get(t, '/api/sys/users/1', STATIC_TOKEN));
        clock.advance(1);
        expect((await get(t, '/api/sys/users/1', STATIC_TOKEN)).status).toBe(200);
        expectThrottled(await get(t, '/api/sys/users/1', STATIC_TOKEN));
      });
      await withEmulator({ throttle: { minIntervalMs: 0, perMinute: 100, perHour: 2 }, clock }, async (t) => {
        const statuses: number[] = [];
        for (let i = 0; i < 3; i++) statuses.push((await get(t, '/api/sys/users/1', STATIC_TOKEN)).status);
        expect(statuses).toEqual([200, 200, 409]);
        clock.advance(3_599_999);
        expectThrottled(await get(t, '/api/sys/users/1', STATIC_TOKEN));
        clock.advance(1);
        expect((await get(t, '/api/sys/users/1', STATIC_TOKEN)).status).toBe(200);
      });
    });

    it('defaults to one request per 100 ms: two at once, one is refused', async () => {
      await withEmulator({ clock: manualClock() }, async (t) => {
        const both = await Promise.all([get(t, '/api/sys/users/1', STATIC_TOKEN), get(t, '/api/sys/users/2', STATIC_TOKEN)]);
        expect(both.map((a) => a.status).sort()).toEqual([200, 409]);
        const refused = both.find((a) => a.status === 409);
        if (refused) expectThrottled(refused);
      });
    });
  });

  describe('faults, latency and the request log', () => {
    it('failNext: injected answers in order, before auth, token endpoint untouched', async () => {
      emu.failNext(1, 500);
      emu.failNext(1, 503);
      emu.failNext(2, 409);
      expect((await postForm(`${emu.url}/api/token`, passwordForm())).status).toBe(200);

      const e500 = await get(emu, '/api/sys/users/1', STATIC_TOKEN);
      expect(e500.status).toBe(500);
      expect(e500.json).toEqual({ Message: 'An error has occurred.' });
      const e503 = await get(emu, '/api/sys/users/?id=[1]');
      expect(e503.status).toBe(503);
      expect(e503.headers.get('content-type')).toMatch(/^text\/html/);
      expect(e503.text).toContain('Service Unavailable');
      expectThrottled(await get(emu, '/api/sys/users/1', STATIC_TOKEN));
      expectThrottled(await get(emu, '/api/sys/users/1', STATIC_TOKEN));
      expect((await get(emu, '/api/sys/users/1', STATIC_TOKEN)).status).toBe(200);

      emu.failNext(1, 500);
      emu.reset();
      expect((await get(emu, '/api/sys/users/1', STATIC_TOKEN)).status).toBe(200);
    });

    it("failNext with a shared fault: Nexudus's own 401, and broken answers after the normal checks", async () => {
      emu.failNext(1, { kind: 'status', status: 401 });
      const denied = await get(emu, '/api/sys/users/1', STATIC_TOKEN);
      expect([denied.status, denied.json, denied.headers.get('www-authenticate')]).toEqual([401, DENIED, 'Bearer']);
      // A truncated answer is the real one cut in half: the request went through auth and the throttle.
      emu.failNext(1, { kind: 'truncated-json' });
      const truncated = await fetch(`${emu.url}/api/sys/users/?id=[1,2]`, { headers: { authorization: `Bearer ${STATIC_TOKEN}` } });
      expect(truncated.status).toBe(200);
      const text = await truncated.text();
      expect(() => JSON.parse(text)).toThrow(SyntaxError);
      const whole = (await get(emu, '/api/sys/users/?id=[1,2]', STATIC_TOKEN)).text;
      expect(text).toBe(whole.slice(0, Math.floor(whole.length / 2)));
      emu.failNext(1, { kind: 'oversize', bytes: 100_000 });
      const oversize = await get(emu, '/api/sys/users/1', STATIC_TOKEN);
      expect([oversize.status, oversize.headers.get('content-length'), oversize.text.length]).toEqual([200, '100000', 100_000]);
      expect(emu.requests.map((r) => [r.status, r.ids])).toEqual([
        [401, undefined],
        [200, [1, 2]],
        [200, [1, 2]],
        [200, undefined],
      ]);
    });

    it('latencyMs delays every answer', async () => {
      // Latency runs on real timers. A lower bound on (monotonic) elapsed time cannot flake: an answer
      // is never early, however loaded the machine.
      await withEmulator({ latencyMs: 150, throttle: false }, async (slow) => {
        const started = performance.now();
        const pending = get(slow, '/api/sys/users/1', STATIC_TOKEN);
        await sleep(50);
        expect(slow.requests[0]?.status ?? 0).toBe(0); // not answered yet (under load it may not even have arrived)
        expect((await pending).status).toBe(200);
        expect(performance.now() - started).toBeGreaterThanOrEqual(140);
        expect(slow.requests[0]?.status).toBe(200);
      });
    });

    it('records every request with kind, ids, grant type and status, and no secret', async () => {
      const t = await passwordGrant(emu);
      await postForm(`${emu.url}/api/token`, passwordForm(USERNAME, 'wrong-password'));
      await postForm(`${emu.url}/api/token`, `grant_type=refresh_token&refresh_token=${t.refresh_token}`);
      await get(emu, '/api/sys/users/?id=%5B3,1,10001%5D', t.access_token);
      await get(emu, '/api/sys/users/42', STATIC_TOKEN);
      await get(emu, '/api/sys/users/?id=[x]', STATIC_TOKEN);
      await get(emu, '/api/sys/users/1', 'bogus-token');
      await get(emu, '/nowhere');

      expect(emu.requests).toEqual([
        { kind: 'token', method: 'POST', path: '/api/token', grantType: 'password', status: 200 },
        { kind: 'token', method: 'POST', path: '/api/token', grantType: 'password', status: 400 },
        { kind: 'token', method: 'POST', path: '/api/token', grantType: 'refresh_token', status: 200 },
        { kind: 'list', method: 'GET', path: '/api/sys/users/', ids: [3, 1, 10001], status: 200 },
        { kind: 'single', method: 'GET', path: '/api/sys/users/42', ids: [42], status: 200 },
        { kind: 'list', method: 'GET', path: '/api/sys/users/', status: 400 },
        { kind: 'single', method: 'GET', path: '/api/sys/users/1', status: 401 },
        { kind: 'other', method: 'GET', path: '/nowhere', status: 404 },
      ]);
      const log = JSON.stringify(emu.requests);
      for (const secret of [PASSWORD, 'wrong-password', STATIC_TOKEN, t.access_token, t.refresh_token, 'bogus-token']) {
        expect(log).not.toContain(secret);
      }
    });
  });
});
