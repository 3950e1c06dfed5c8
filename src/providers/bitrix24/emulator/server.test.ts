/**
 * Tests the Bitrix24 emulator over real HTTP (fetch): both ways of connecting, both body encodings,
 * the error bodies a client must recognise, the OAuth refresh flow, `batch`, the leaky bucket and
 * injected faults. Bodies are checked against the wire shapes in wire.ts and the method page.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualEmulatorClock } from '../../../emulators/clock.js';
import type { BitrixApiUser, BitrixBatchResponse, BitrixTokenResponse } from '../wire.js';
import { BITRIX_DEMO_MAX_ID, demoBitrixUser } from './demo-data.js';
import { type Bitrix24Emulator, type BitrixTime, startBitrix24Emulator } from './server.js';

const WEBHOOK = { userId: 1, secret: 'wh5ecret0123456789' };
const OAUTH = { clientId: 'local.app.1', clientSecret: 'client-secret-xyz', accessToken: 'access-0', refreshToken: 'refresh-0' };
const ATOM = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+03:00$/;
/** Where a manual emulator clock starts: a fixed instant, so a test reads the same on every run. */
const START_MS = Date.UTC(2026, 2, 1, 9, 30);

interface Answer<T = Record<string, unknown>> {
  status: number;
  text: string;
  body: T;
}

async function request<T = Record<string, unknown>>(url: string, init: RequestInit = {}): Promise<Answer<T>> {
  const res = await fetch(url, init);
  const text = await res.text();
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return { status: res.status, text, body: JSON.parse(text) as T };
}

const postJson = <T = Record<string, unknown>>(url: string, body: unknown): Promise<Answer<T>> =>
  request<T>(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

const postForm = <T = Record<string, unknown>>(url: string, body: string): Promise<Answer<T>> =>
  request<T>(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });

/** The `time` block every REST response carries; `nowMs` is the emulator's time (its clock's, or the wall clock). */
function expectTime(time: unknown, nowMs = Date.now()): void {
  const t = time as BitrixTime;
  expect(Object.keys(t).sort()).toEqual(
    ['date_finish', 'date_start', 'duration', 'finish', 'operating', 'operating_reset_at', 'processing', 'start'].sort(),
  );
  for (const k of ['start', 'finish', 'duration', 'processing', 'operating', 'operating_reset_at'] as const) {
    expect(typeof t[k], k).toBe('number');
  }
  expect(t.finish).toBeGreaterThanOrEqual(t.start);
  expect(t.start).toBeGreaterThan(nowMs / 1000 - 60);
  expect(t.start).toBeLessThanOrEqual(nowMs / 1000);
  expect(t.operating_reset_at).toBeGreaterThan(nowMs / 1000);
  expect(t.date_start).toMatch(ATOM);
  expect(t.date_finish).toMatch(ATOM);
}

function expectError(answer: Answer, status: number, error: string, description?: string, nowMs?: number): void {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.body.error).toBe(error);
  if (description !== undefined) expect(answer.body.error_description).toBe(description);
  expectTime(answer.body.time, nowMs);
}

type Users = Record<string, BitrixApiUser | null>;

describe('demo data', () => {
  it('is deterministic and follows the documented shapes', () => {
    expect(BITRIX_DEMO_MAX_ID).toBe(10_000);
    expect(demoBitrixUser(42, true)).toEqual(demoBitrixUser(42, true));
    const u = demoBitrixUser(14, false);
    expect(u).toMatchObject({ id: 14, name: 'Demo User 14', first_name: 'Demo', last_name: 'User 14', active: true });
    expect(u.name).toBe(`${u.first_name} ${u.last_name}`);
    expect(u.color).toMatch(/^#[0-9a-f]{6}$/);
    expect(demoBitrixUser(15, false).color).not.toBe(u.color);
    expect(u.last_activity_date).toMatch(ATOM);
    expect(u.idle).toMatch(ATOM); // 14 % 7 === 0
    expect(u).not.toHaveProperty('avatar_hr');
    expect(demoBitrixUser(14, true).avatar_hr).toBe('https://cdn.bitrix24.example/avatars/14_hr.png');
    expect(demoBitrixUser(12, true)).toMatchObject({ avatar: '', avatar_hr: '' }); // 12 % 6 === 0
  });

  it('covers false dates, false phones, bots, extranet and inactive users', () => {
    const users = Array.from({ length: BITRIX_DEMO_MAX_ID }, (_, i) => demoBitrixUser(i + 1, false));
    for (const key of ['idle', 'mobile_last_date', 'desktop_last_date', 'absent'] as const) {
      expect(
        users.some((u) => u[key] === false),
        key,
      ).toBe(true);
      expect(
        users.some((u) => typeof u[key] === 'string' && ATOM.test(u[key])),
        key,
      ).toBe(true);
    }
    expect(users.every((u) => typeof u.last_activity_date === 'string' && ATOM.test(u.last_activity_date))).toBe(true);
    expect(demoBitrixUser(8, false).phones).toBe(false);
    expect(demoBitrixUser(7, false).phones).toEqual({ work_phone: '+7 495 000-7', personal_mobile: '+7 916 0000007', personal_phone: '' });
    expect(demoBitrixUser(100, false)).toMatchObject({ bot: true, external_auth_id: 'bot', extranet: true, active: false });
    expect(demoBitrixUser(9, false).departments).toEqual([3, 10]);
    expect(demoBitrixUser(20, false)).toMatchObject({ birthday: '', work_position: '', status: 'online' });
    expect(demoBitrixUser(21, false).birthday).toMatch(/^\d{2}-\d{2}$/);
    expect(new Set(users.map((u) => u.gender))).toEqual(new Set(['M', 'F', '']));
  });
});

describe('Bitrix24 emulator', () => {
  let emu: Bitrix24Emulator;
  let webhookUrl: string;
  const rest = (method: string): string => `${emu.url}/rest/${method}`;
  /** The live access token (the refresh test rotates it). */
  const access = (): string => emu.currentTokens().accessToken;

  beforeAll(async () => {
    emu = await startBitrix24Emulator({ webhook: WEBHOOK, oauth: OAUTH, bucket: { perSecond: 1000, burst: 1000 } });
    webhookUrl = emu.webhookUrl ?? '';
  });
  afterAll(async () => {
    await emu.close();
    await emu.close(); // idempotent
  });
  beforeEach(() => emu.reset());

  describe('im.user.list.get', () => {
    it('webhook + JSON: keyed by id, unknown ids null, no avatar_hr unless asked', async () => {
      expect(webhookUrl).toBe(`${emu.url}/rest/1/${WEBHOOK.secret}/`);
      const a = await postJson<{ result: Users; time: BitrixTime }>(`${webhookUrl}im.user.list.get`, {
        ID: [4, 5, 10_001],
        AVATAR_HR: 'N',
      });
      expect(a.status).toBe(200);
      expect(Object.keys(a.body.result).sort()).toEqual(['10001', '4', '5']);
      expect(a.body.result['10001']).toBeNull();
      expect(a.body.result['4']).toEqual(demoBitrixUser(4, false));
      expect(a.body.result['5']).not.toHaveProperty('avatar_hr');
      expectTime(a.body.time);
    });

    it('webhook + form: ID[]=…&AVATAR_HR=Y adds avatar_hr, and false values survive the wire', async () => {
      const a = await postForm<{ result: Users }>(`${webhookUrl}im.user.list.get.json`, 'ID[]=7&ID[]=8&ID[]=12&AVATAR_HR=Y');
      expect(a.status).toBe(200);
      expect(a.body.result['7']?.avatar_hr).toBe('https://cdn.bitrix24.example/avatars/7_hr.png');
      expect(a.body.result['12']).toMatchObject({ avatar: '', avatar_hr: '' });
      expect(a.body.result['8']?.phones).toBe(false);
      expect(a.body.result['7']?.mobile_last_date).toBe(false);
      expect(a.text).toContain('"phones":false');
      expect(a.text).toContain('"idle":false');
    });

    it('OAuth: auth in a JSON body, in a form body, or in the query string', async () => {
      const viaJson = await postJson<{ result: Users }>(rest('im.user.list.get'), { ID: [1], auth: access() });
      expect(viaJson.body.result['1']?.name).toBe('Demo User 1');
      const viaForm = await postForm<{ result: Users }>(rest('im.user.list.get'), `ID[0]=2&ID[1]=3&auth=${access()}`);
      expect(Object.keys(viaForm.body.result)).toEqual(['2', '3']);
      const viaQuery = await postJson<{ result: Users }>(`${rest('im.user.list.get')}?auth=${access()}`, { ID: ['9'] });
      expect(viaQuery.body.result['9']?.departments).toEqual([3, 10]);
      expect(emu.requests.map((r) => r.auth)).toEqual(['oauth', 'oauth', 'oauth']);
    });

    it('an empty ID list answers an empty map as []', async () => {
      const a = await postJson(`${webhookUrl}im.user.list.get`, { ID: [] });
      expect(a.status).toBe(200);
      expect(a.text).toMatch(/^\{"result":\[\],"time":/);
    });

    it('INVALID_FORMAT for a missing or malformed ID and for other bodies or verbs', async () => {
      const url = `${webhookUrl}im.user.list.get`;
      const wrongId = 'A wrong format for the ID field is passed';
      expectError(await postJson(url, {}), 400, 'INVALID_FORMAT', wrongId);
      expectError(await postJson(url, { ID: [1, 'x'] }), 400, 'INVALID_FORMAT', wrongId);
      expectError(await postJson(url, { ID: [1.5] }), 400, 'INVALID_FORMAT', wrongId);
      expectError(await postJson(url, { ID: [0] }), 400, 'INVALID_FORMAT', wrongId);
      expectError(await postJson(url, { ID: 5 }), 400, 'INVALID_FORMAT', wrongId);
      expectError(await postForm(url, 'ID=5'), 400, 'INVALID_FORMAT', wrongId);
      expectError(await postForm(url, 'ID[]=-3'), 400, 'INVALID_FORMAT', wrongId);
      expectError(
        await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ID":[1' }),
        400,
        'INVALID_FORMAT',
      );
      expectError(await request(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'ID=1' }), 400, 'INVALID_FORMAT');
      expectError(await request(url, { method: 'GET' }), 400, 'INVALID_FORMAT');
      expect(emu.requests.every((r) => r.status === 400)).toBe(true);
    });

    it('404 ERROR_METHOD_NOT_FOUND for an unknown method or path', async () => {
      expectError(await postJson(`${webhookUrl}user.get`, { ID: 1 }), 404, 'ERROR_METHOD_NOT_FOUND', 'Method not found!');
      expectError(await postJson(`${emu.url}/api/users`, {}), 404, 'ERROR_METHOD_NOT_FOUND');
    });
  });

  describe('auth', () => {
    it('NO_AUTH_FOUND for a wrong webhook secret or user, or OAuth without auth; invalid_token for an unknown token', async () => {
      const noAuth = 'Wrong authorization data';
      expectError(await postJson(`${emu.url}/rest/1/wrong-secret/im.user.list.get`, { ID: [1] }), 401, 'NO_AUTH_FOUND', noAuth);
      expectError(await postJson(`${emu.url}/rest/2/${WEBHOOK.secret}/im.user.list.get`, { ID: [1] }), 401, 'NO_AUTH_FOUND', noAuth);
      expectError(await postJson(rest('im.user.list.get'), { ID: [1] }), 401, 'NO_AUTH_FOUND', noAuth);
      expectError(await postJson(rest('im.user.list.get'), { ID: [1], auth: 'nope' }), 401, 'invalid_token');
      expect(emu.requests.map((r) => r.auth)).toEqual(['webhook', 'webhook', 'none', 'oauth']);
    });

    it('expired_token after expireAccessToken(); a refresh issues new tokens and retires the old refresh token', async () => {
      const before = emu.currentTokens();
      emu.expireAccessToken();
      expectError(
        await postJson(rest('im.user.list.get'), { ID: [1], auth: before.accessToken }),
        401,
        'expired_token',
        'The access token provided has expired.',
      );

      const refreshUrl = (refreshToken: string, clientSecret = OAUTH.clientSecret): string =>
        `${emu.url}/oauth/token/?${new URLSearchParams({
          grant_type: 'refresh_token',
          client_id: OAUTH.clientId,
          client_secret: clientSecret,
          refresh_token: refreshToken,
        })}`;

      const wrongClient = await request(refreshUrl(before.refreshToken, 'bad'));
      expect(wrongClient.status).toBe(401);
      expect(wrongClient.body.error).toBe('invalid_client');

      const ok = await request<BitrixTokenResponse>(refreshUrl(before.refreshToken));
      expect(ok.status).toBe(200);
      expect(ok.body.access_token).not.toBe(before.accessToken);
      expect(ok.body.refresh_token).not.toBe(before.refreshToken);
      expect(ok.body).toMatchObject({ expires_in: 3600, scope: 'im,user', status: 'L', server_endpoint: `${emu.url}/rest/` });
      expect(ok.body.domain).toBe(new URL(emu.url).host);
      expect(ok.body.expires).toBeGreaterThan(Date.now() / 1000 + 3500);
      expect(typeof ok.body.member_id).toBe('string');
      expect(emu.currentTokens()).toEqual({ accessToken: ok.body.access_token, refreshToken: ok.body.refresh_token });

      const reused = await request(refreshUrl(before.refreshToken));
      expect(reused.status).toBe(400);
      expect(reused.body).toEqual({ error: 'invalid_grant', error_description: 'Invalid refresh token' });

      const fresh = await postJson<{ result: Users }>(rest('im.user.list.get'), { ID: [3], auth: ok.body.access_token });
      expect(fresh.status).toBe(200);
      expect(fresh.body.result['3']?.id).toBe(3);
      expect(emu.requests.filter((r) => r.method === 'oauth.token').map((r) => r.status)).toEqual([401, 200, 400]);
    });

    it('an access token expires by itself after its TTL', async () => {
      const clock = new ManualEmulatorClock(START_MS);
      const short = await startBitrix24Emulator({ oauth: { ...OAUTH, accessTokenTtlSeconds: 1 }, clock });
      try {
        expect(short.webhookUrl).toBeUndefined();
        const url = `${short.url}/rest/im.user.list.get`;
        const first = await postJson<{ time: BitrixTime }>(url, { ID: [1], auth: OAUTH.accessToken });
        expect(first.status).toBe(200);
        // The time block reads the emulator's clock too.
        expect([first.body.time.start, first.body.time.finish]).toEqual([START_MS / 1000, START_MS / 1000]);
        clock.advance(999);
        expect((await postJson(url, { ID: [1], auth: OAUTH.accessToken })).status).toBe(200);
        clock.advance(1);
        expectError(await postJson(url, { ID: [1], auth: OAUTH.accessToken }), 401, 'expired_token', undefined, clock.now());
        // A webhook path is refused when no webhook is configured.
        expectError(
          await postJson(`${short.url}/rest/1/${WEBHOOK.secret}/im.user.list.get`, { ID: [1] }),
          401,
          'NO_AUTH_FOUND',
          undefined,
          clock.now(),
        );
      } finally {
        await short.close();
      }
    });
  });

  describe('batch', () => {
    it('runs 3 commands: results, a per-command error, [] for empty maps, always 200', async () => {
      const a = await postJson<BitrixBatchResponse>(`${webhookUrl}batch`, {
        halt: 0,
        cmd: {
          first: 'im.user.list.get?ID[]=1&ID[]=2&AVATAR_HR=Y',
          second: 'im.user.list.get?ID[]=10001',
          third: 'user.get?ID=1',
        },
      });
      expect(a.status).toBe(200);
      const r = a.body.result;
      const results = r.result as Record<string, Users>;
      expect(Object.keys(results)).toEqual(['first', 'second']);
      expect(results.first?.['2']).toEqual(demoBitrixUser(2, true));
      expect(results.second).toEqual({ '10001': null });
      expect(r.result_error).toEqual({ third: { error: 'ERROR_METHOD_NOT_FOUND', error_description: 'Method not found!' } });
      expect(r.result_total).toEqual([]);
      expect(r.result_next).toEqual([]);
      expect(Object.keys(r.result_time ?? {})).toEqual(['first', 'second', 'third']);
      for (const t of Object.values(r.result_time ?? {})) expectTime(t);
      expectTime(a.body.time);
      expect(emu.requests[0]).toMatchObject({
        method: 'batch',
        commands: 3,
        ids: [1, 2, 10_001],
        avatarHr: true,
        status: 200,
        auth: 'webhook',
      });
    });

    it('serializes a clean batch with result_error: [] (form body, OAuth)', async () => {
      const cmd = encodeURIComponent('im.user.list.get?ID[]=3');
      const a = await postForm<BitrixBatchResponse>(rest('batch'), `halt=0&cmd[only]=${cmd}&auth=${access()}`);
      expect(a.status).toBe(200);
      expect(a.text).toContain('"result_error":[]');
      expect(a.text).toContain('"result_total":[]');
      expect((a.body.result.result as Record<string, Users>).only?.['3']?.id).toBe(3);
    });

    it('refuses more than 50 commands; 50 are fine', async () => {
      const cmds = (n: number): Record<string, string> =>
        Object.fromEntries(Array.from({ length: n }, (_, i) => [`c${i}`, `im.user.list.get?ID[]=${i + 1}`]));
      expectError(
        await postJson(`${webhookUrl}batch`, { halt: 0, cmd: cmds(51) }),
        400,
        'ERROR_BATCH_LENGTH_EXCEEDED',
        'Max batch length exceeded',
      );
      const ok = await postJson<BitrixBatchResponse>(`${webhookUrl}batch`, { halt: 0, cmd: cmds(50) });
      expect(ok.status).toBe(200);
      expect(Object.keys(ok.body.result.result)).toHaveLength(50);
    });

    it('failCommand turns every command that asks for the id into a result_error; INVALID_FORMAT per command', async () => {
      emu.failCommand(7, 'ACCESS_DENIED', 'Access denied!');
      const a = await postJson<BitrixBatchResponse>(`${webhookUrl}batch`, {
        halt: 0,
        cmd: {
          a: 'im.user.list.get?ID[]=6&ID[]=7',
          b: 'im.user.list.get?ID[]=8',
          c: 'im.user.list.get?ID[]=7',
          d: 'im.user.list.get?ID[]=x',
        },
      });
      expect(a.status).toBe(200);
      expect(Object.keys(a.body.result.result)).toEqual(['b']);
      expect(a.body.result.result_error).toEqual({
        a: { error: 'ACCESS_DENIED', error_description: 'Access denied!' },
        c: { error: 'ACCESS_DENIED', error_description: 'Access denied!' },
        d: { error: 'INVALID_FORMAT', error_description: 'A wrong format for the ID field is passed' },
      });
      emu.reset(); // clears command failures
      const b = await postJson<BitrixBatchResponse>(`${webhookUrl}batch`, { halt: 0, cmd: { a: 'im.user.list.get?ID[]=7' } });
      expect(b.body.result.result_error).toEqual([]);
    });

    it('halt=1 stops at the first failing command', async () => {
      const a = await postJson<BitrixBatchResponse>(`${webhookUrl}batch`, {
        halt: 1,
        cmd: { a: 'im.user.list.get?ID[]=1', b: 'nope', c: 'im.user.list.get?ID[]=2' },
      });
      expect(Object.keys(a.body.result.result)).toEqual(['a']);
      expect(Object.keys(a.body.result.result_error)).toEqual(['b']);
    });
  });

  describe('faults', () => {
    it('failNext: 503 QUERY_LIMIT_EXCEEDED, 429 OPERATION_TIME_LIMIT with operating_reset_at, 500, then normal', async () => {
      emu.failNext(1, 503);
      emu.failNext(1, 429);
      emu.failNext(1, 500);
      const url = `${webhookUrl}im.user.list.get`;
      expectError(await postJson(url, { ID: [1] }), 503, 'QUERY_LIMIT_EXCEEDED', 'Too many requests');
      const limited = await postJson<{ error: string; time: BitrixTime }>(url, { ID: [1] });
      expectError(limited as unknown as Answer, 429, 'OPERATION_TIME_LIMIT');
      expect(limited.body.time.operating_reset_at).toBeGreaterThan(Date.now() / 1000);
      expect(limited.body.time.operating).toBeGreaterThan(480);
      expectError(await postJson(url, { ID: [1] }), 500, 'INTERNAL_SERVER_ERROR');
      expect((await postJson(url, { ID: [1] })).status).toBe(200);
    });

    it('failNext can name another error code', async () => {
      emu.failNext(1, 503, 'PORTAL_DELETED');
      expectError(await postJson(`${webhookUrl}im.user.list.get`, { ID: [1] }), 503, 'PORTAL_DELETED');
    });

    it("failNext with a shared fault: the portal's own 401, and broken answers after the normal checks", async () => {
      const url = `${webhookUrl}im.user.list.get`;
      emu.failNext(1, { kind: 'status', status: 401 });
      expectError(await postJson(url, { ID: [1] }), 401, 'NO_AUTH_FOUND', 'Wrong authorization data');
      // A truncated answer is the real one cut in half: the request went through the portal's checks.
      emu.failNext(1, { kind: 'truncated-json' });
      const truncated = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ID":[1]}' });
      expect(truncated.status).toBe(200);
      const text = await truncated.text();
      expect(text.startsWith('{"result":{"1":{"id":1,')).toBe(true);
      expect(() => JSON.parse(text)).toThrow(SyntaxError);
      expect(emu.requests.map((r) => [r.status, r.ids])).toEqual([
        [401, undefined],
        [200, [1]],
      ]);
    });
  });

  it('records every request, with the webhook secret redacted', async () => {
    await postJson(`${webhookUrl}im.user.list.get`, { ID: [4, 5], AVATAR_HR: 'Y' });
    await postJson(`${emu.url}/rest/1/guessed-secret/im.user.list.get`, { ID: [4] });
    await postJson(`${rest('im.user.list.get')}?auth=${access()}`, { ID: [6] });
    expect(emu.requests).toEqual([
      { method: 'im.user.list.get', path: '/rest/1/<secret>/im.user.list.get', ids: [4, 5], avatarHr: true, status: 200, auth: 'webhook' },
      { method: 'im.user.list.get', path: '/rest/1/<secret>/im.user.list.get', status: 401, auth: 'webhook' },
      { method: 'im.user.list.get', path: '/rest/im.user.list.get', ids: [6], avatarHr: false, status: 200, auth: 'oauth' },
    ]);
    const dump = JSON.stringify(emu.requests);
    expect(dump).not.toContain(WEBHOOK.secret);
    expect(dump).not.toContain('guessed-secret');
    expect(dump).not.toContain(access());
  });
});

describe('caller tokens', () => {
  // A webhook-only portal (no OAuth app) whose users alice and bob also call it with their own tokens.
  const ALICE = 'alice-access-0001';
  const BOB = 'bob-access-0002';
  let emu: Bitrix24Emulator;
  const list = (auth: string, ids: number[]) => postJson<{ result: Users }>(`${emu.url}/rest/im.user.list.get`, { ID: ids, auth });

  beforeAll(async () => {
    emu = await startBitrix24Emulator({
      webhook: WEBHOOK,
      bucket: { perSecond: 1000, burst: 1000 },
      callerTokens: [
        { name: 'alice', token: ALICE, sees: [42] },
        { name: 'bob', token: BOB },
      ],
      restrictedIds: [42],
    });
  });
  afterAll(() => emu.close());
  beforeEach(() => emu.reset());

  it('accepts each caller token in auth at the REST base, naming its user (never the token) in the log', async () => {
    expect((await list(ALICE, [1])).body.result['1']?.name).toBe('Demo User 1');
    expect((await list(BOB, [1])).status).toBe(200);
    expectError(await list('carol-access', [1]), 401, 'invalid_token');
    expect(emu.requests.map((r) => [r.auth, r.caller])).toEqual([
      ['oauth', 'alice'],
      ['oauth', 'bob'],
      ['oauth', undefined],
    ]);
    expect(JSON.stringify(emu.requests)).not.toContain('-access-000');
  });

  it('shows a restricted user only to the tokens that may see it; to the webhook and the others it is unknown', async () => {
    expect((await list(ALICE, [42, 43])).body.result['42']?.name).toBe('Demo User 42');
    expect((await list(BOB, [42, 43])).body.result).toEqual({ '42': null, '43': expect.objectContaining({ id: 43 }) });
    const webhook = await postJson<{ result: Users }>(`${emu.webhookUrl}im.user.list.get`, { ID: [42] });
    expect(webhook.body.result).toEqual({ '42': null });
    // Within a batch too.
    const batch = await postJson<BitrixBatchResponse>(`${emu.url}/rest/batch`, {
      auth: BOB,
      cmd: { a: 'im.user.list.get?ID[]=42', b: 'im.user.list.get?ID[]=1' },
    });
    expect(batch.body.result.result).toMatchObject({ a: { '42': null }, b: { '1': expect.objectContaining({ id: 1 }) } });
  });

  it("expireCallerToken: that token answers expired_token, the others and the webhook don't", async () => {
    emu.expireCallerToken('alice');
    expectError(await list(ALICE, [1]), 401, 'expired_token', 'The access token provided has expired.');
    expect((await list(BOB, [1])).status).toBe(200);
    expect((await postJson(`${emu.webhookUrl}im.user.list.get`, { ID: [1] })).status).toBe(200);
    expect(() => emu.expireCallerToken('carol')).toThrow(/no caller token named carol/);
  });
});

describe('leaky bucket', () => {
  const clock = new ManualEmulatorClock(START_MS);
  let emu: Bitrix24Emulator;
  beforeAll(async () => {
    emu = await startBitrix24Emulator({ webhook: WEBHOOK, oauth: OAUTH, bucket: { perSecond: 1, burst: 3 }, clock });
  });
  afterAll(() => emu.close());

  it('the 4th quick request gets 503 QUERY_LIMIT_EXCEEDED; a batch is one request; it drains over time', async () => {
    const url = `${emu.webhookUrl ?? ''}im.user.list.get`;
    // Refused auth costs no budget.
    expect((await postJson(`${emu.url}/rest/1/bad/im.user.list.get`, { ID: [1] })).status).toBe(401);
    expect((await postJson(url, { ID: [1] })).status).toBe(200);
    expect((await postJson(url, { ID: [2] })).status).toBe(200);
    const batch = await postJson(`${emu.webhookUrl ?? ''}batch`, {
      halt: 0,
      cmd: { a: 'im.user.list.get?ID[]=1', b: 'im.user.list.get?ID[]=2', c: 'im.user.list.get?ID[]=3' },
    });
    expect(batch.status).toBe(200);
    expectError(await postJson(url, { ID: [4] }), 503, 'QUERY_LIMIT_EXCEEDED', 'Too many requests', clock.now());

    // The OAuth server is not limited.
    const refresh = await request(
      `${emu.url}/oauth/token/?grant_type=refresh_token&client_id=${OAUTH.clientId}&client_secret=${OAUTH.clientSecret}&refresh_token=${OAUTH.refreshToken}`,
    );
    expect(refresh.status).toBe(200);

    clock.advance(500); // drains half a unit: not room enough for one request
    expect((await postJson(url, { ID: [5] })).status).toBe(503);
    clock.advance(500); // a whole unit in all (the refused request added nothing)
    expect((await postJson(url, { ID: [5] })).status).toBe(200);
    expect((await postJson(url, { ID: [6] })).status).toBe(503);

    emu.reset(); // empties the bucket
    for (let i = 0; i < 3; i++) expect((await postJson(url, { ID: [7] })).status).toBe(200);
    expect((await postJson(url, { ID: [7] })).status).toBe(503);
  });
});
