import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Bitrix24Emulator, startBitrix24Emulator } from '../../src/providers/bitrix24/emulator/server.js';
import { type NexudusEmulator, startNexudusEmulator } from '../../src/providers/nexudus/emulator/server.js';
import { deleteKeysUnder, keysUnder, sharedRedis, sharedRedisEnvironment, uniquePrefix } from '../../src/testing/redis.js';
import { type SubgraphProcess, startSubgraphProcess } from '../support/subgraph-process.js';

/**
 * One upstream account, two replicas: two subgraph processes (`node --import tsx src/main.ts`,
 * configured only through their environment) sharing one Redis (the run's own, whatever its topology), in
 * front of one Bitrix24 portal in OAuth mode and one Nexudus account. Bitrix24's refresh tokens rotate: two
 * replicas renewing on their own would spend the same refresh token twice, and the second would get
 * invalid_grant. Nexudus refuses a request within 100 ms of the previous one: two replicas pacing on their own
 * would provoke it.
 */

const OAUTH = {
  clientId: 'app.replicas.1',
  clientSecret: 'cl1ent-SECRET-replicas',
  accessToken: 'acc3ss-SECRET-initial',
  refreshToken: 'refr3sh-SECRET-initial',
};
const LOGIN = { username: 'ops@replicas.example', password: 'pa55-SECRET-replicas' };
const PORTAL = 'replicas.bitrix24.local';

const admin = sharedRedis();
const prefix = uniquePrefix('upstream-accounts');
let bitrix: Bitrix24Emulator;
let nexudus: NexudusEmulator;
let a: SubgraphProcess;
let b: SubgraphProcess;

beforeAll(async () => {
  // A little latency on every answer: a renewal is still under way when the other replica's refusal comes.
  bitrix = await startBitrix24Emulator({ oauth: { ...OAUTH }, latencyMs: 20 });
  nexudus = await startNexudusEmulator({ ...LOGIN }); // its throttle on: 1 request per 100 ms per token
  const env = {
    BITRIX24_PORTAL_URL: bitrix.url,
    BITRIX24_PORTAL_NAME: PORTAL,
    BITRIX24_ACCESS_TOKEN: OAUTH.accessToken,
    BITRIX24_REFRESH_TOKEN: OAUTH.refreshToken,
    BITRIX24_CLIENT_ID: OAUTH.clientId,
    BITRIX24_CLIENT_SECRET: OAUTH.clientSecret,
    BITRIX24_OAUTH_URL: bitrix.url,
    NEXUDUS_BASE_URL: nexudus.url,
    NEXUDUS_USERNAME: LOGIN.username,
    NEXUDUS_PASSWORD: LOGIN.password,
    // Every operation goes upstream: what is counted here is renewals and pacing, not the record cache.
    BITRIX24_CACHE: '0',
    NEXUDUS_CACHE: '0',
    ...sharedRedisEnvironment(),
    REDIS_KEY_PREFIX: prefix,
    LOG_LEVEL: 'info',
  };
  [a, b] = await Promise.all([startSubgraphProcess(env), startSubgraphProcess(env)]);
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await deleteKeysUnder(admin, prefix);
  await admin.quit();
  await Promise.all([bitrix?.close(), nexudus?.close()]);
});

const BITRIX_USERS = 'query($ids: [ID!]!) { bitrix24Users(ids: $ids) { id portal name } }';
const NEXUDUS_USERS = 'query($ids: [ID!]!) { nexudusUsers(ids: $ids) { id fullName } }';

/** `perReplica` operations on each replica at once, each for an id of its own. */
async function burst(query: string, perReplica: number, from: number) {
  const sent = [a, b].flatMap((replica, r) =>
    Array.from({ length: perReplica }, (_, i) => replica.gql(query, { ids: [String(from + r * perReplica + i)] })),
  );
  return Promise.all(sent);
}

const renewals = () => bitrix.requests.filter((r) => r.method === 'oauth.token');

describe('a Bitrix24 portal in OAuth mode, two replicas', () => {
  it('an expired access token is renewed exactly once for both replicas, and the next renewal uses the rotated refresh token', async () => {
    const warm = await burst(BITRIX_USERS, 1, 1);
    for (const { body } of warm) expect(body.errors).toBeUndefined();
    expect(renewals()).toHaveLength(0);

    for (const round of [1, 2]) {
      bitrix.expireAccessToken();
      const answers = await burst(BITRIX_USERS, 3, round * 10);
      for (const { body } of answers) {
        expect(body.errors).toBeUndefined();
        expect(body.data.bitrix24Users[0]).toMatchObject({ portal: PORTAL, name: expect.any(String) });
      }
      // One renewal per expiry, for both replicas, and never a refresh token that was already spent.
      expect(renewals().map((r) => r.status)).toEqual(Array(round).fill(200));
    }
    expect(bitrix.requests.some((r) => r.status === 400)).toBe(false);

    // The pair in Redis is sealed: neither token, nor the configured ones, in clear.
    const current = bitrix.currentTokens();
    const tokenKeys = await keysUnder(admin, `${prefix}token:`);
    expect(tokenKeys.length).toBeGreaterThan(0);
    for (const key of tokenKeys) {
      const value = (await admin.get(key)) ?? '';
      for (const secret of [current.accessToken, current.refreshToken, ...Object.values(OAUTH), LOGIN.password]) {
        expect(value).not.toContain(secret);
      }
    }
    // The portal's bucket is kept in Redis, under its name.
    expect(await keysUnder(admin, `${prefix}pace:{bitrix24:${PORTAL}}`)).not.toHaveLength(0);
  });
});

describe('a Nexudus account, two replicas', () => {
  it('one password grant for both, and together they never provoke the 100 ms throttle', async () => {
    const answers = await burst(NEXUDUS_USERS, 4, 1);
    for (const { body } of answers) expect(body.errors).toBeUndefined();
    expect(nexudus.requests.filter((r) => r.kind === 'token').map((r) => r.grantType)).toEqual(['password']);
    const lists = nexudus.requests.filter((r) => r.kind === 'list');
    expect(lists.length).toBeGreaterThanOrEqual(2);
    expect(nexudus.requests.map((r) => r.status)).not.toContain(409);
    // The account is named in Redis by a hash, never by its username.
    const keys = await keysUnder(admin, prefix);
    expect(keys.some((key) => key.includes('{nexudus:'))).toBe(true);
    for (const key of keys) expect(key).not.toContain(LOGIN.username);
  });
});

describe('what the replicas said', () => {
  it('no token, refresh token, client secret or password in their logs', () => {
    const current = bitrix.currentTokens();
    for (const replica of [a, b]) {
      for (const secret of [current.accessToken, current.refreshToken, ...Object.values(OAUTH), LOGIN.password]) {
        if (secret === OAUTH.clientId) continue; // an app's id is not a secret
        expect(replica.output()).not.toContain(secret);
      }
    }
  });
});
