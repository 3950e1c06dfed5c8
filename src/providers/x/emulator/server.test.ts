/**
 * Tests the X emulator over real HTTP. Every body is checked against X's own OpenAPI spec (2.159), so the
 * emulator cannot drift into a shape a real client would never see.
 *
 * The spec, `x-openapi-2.159.json` beside this file, is X's official OpenAPI specification of the X API v2,
 * version 2.159, as published by X (api.x.com/2/openapi.json at that version); the emulator's enums are also
 * checked against its lists. Kept unchanged; replace it with a newer version deliberately, and expect the
 * drift tests to say what moved.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualEmulatorClock } from '../../../emulators/clock.js';
import { X_TWEET_FIELDS, X_USER_FIELDS, X_USERNAME_PATTERN, type XApiTweet, type XApiUser, type XLookupResponse } from '../wire.js';
import { DEMO_MAX_ID, demoXTweet, demoXUser } from './demo-data.js';
import {
  startXEmulator,
  X_PROBLEM_INVALID_REQUEST,
  X_PROBLEM_NOT_AUTHORIZED,
  X_PROBLEM_NOT_FOUND,
  type XEmulator,
  xEmulatorAcceptedValues,
} from './server.js';

// ajv-formats is CommonJS: under NodeNext the default import is `module.exports`, whose `.default` is the plugin.
const addFormats = addFormatsModule.default;

// ---------------------------------------------------------------------------------------------
// The spec and its validators.

interface OpenApiSpec {
  components: {
    schemas: Record<string, unknown>;
    parameters: Record<string, { schema: { items: { enum: string[] } } }>;
  };
}

const spec = JSON.parse(readFileSync(new URL('./x-openapi-2.159.json', import.meta.url), 'utf8')) as OpenApiSpec;
const SPEC_ID = 'https://x-openapi-2.159.local/spec.json';

/** Ajv over the spec's components. OpenAPI 3.0 is draft-07-ish; `discriminator`/`example` are ignored (strict: false). */
function buildAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  // The spec also uses non-standard formats (`long`, `integer`, even a typo `data-time`): accept them as annotations.
  const formats = new Set<string>();
  JSON.stringify(spec.components.schemas, (key, value: unknown) => {
    if (key === 'format' && typeof value === 'string') formats.add(value);
    return value;
  });
  for (const f of formats) if (ajv.formats[f] === undefined) ajv.addFormat(f, true);
  // One document holding all schemas, so the spec's own `#/components/schemas/X` refs resolve unchanged.
  ajv.addSchema({ $id: SPEC_ID, components: { schemas: spec.components.schemas } });
  return ajv;
}
const ajv = buildAjv();

function schema(name: string): ValidateFunction {
  if (!(name in spec.components.schemas)) throw new Error(`schema ${name} is not in the spec`);
  return ajv.compile({ $ref: `${SPEC_ID}#/components/schemas/${name}` });
}

const v = {
  users: schema('Get2UsersResponse'),
  usersBy: schema('Get2UsersByResponse'),
  tweets: schema('Get2TweetsResponse'),
  invalid: schema('InvalidRequestProblem'),
  problem: schema('Problem'),
  notFound: schema('ResourceNotFoundProblem'),
};

function expectValid(validate: ValidateFunction, body: unknown): void {
  const ok = validate(body);
  expect(ok, `schema violation: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`).toBe(true);
}

/** A 200 body: valid against its response schema, and each `errors` entry against ResourceNotFoundProblem. */
function expectValidLookup(validate: ValidateFunction, body: XLookupResponse<unknown>): void {
  expectValid(validate, body);
  for (const e of body.errors ?? []) expectValid(v.notFound, e);
}

function specEnum(parameter: string): string[] {
  const p = spec.components.parameters[parameter];
  if (!p) throw new Error(`parameter ${parameter} is not in the spec`);
  return [...p.schema.items.enum].sort();
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers.

const TOKEN = 'test-token';
/** The emulators' time: it moves only when a test moves it. A fixed instant, part way into a second. */
const clock = new ManualEmulatorClock(Date.UTC(2026, 2, 1, 12, 0, 0, 250));
const nowS = (): number => Math.floor(clock.now() / 1000);
let emu: XEmulator;

interface Reply<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

async function get<T = XLookupResponse<XApiUser>>(
  pathAndQuery: string,
  opts: { token?: string | null; base?: string } = {},
): Promise<Reply<T>> {
  const token = opts.token === undefined ? TOKEN : opts.token;
  const res = await fetch(`${opts.base ?? emu.url}${pathAndQuery}`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text) as T };
}

function ids(n: number, from = 1): string {
  return Array.from({ length: n }, (_, i) => String(from + i)).join(',');
}

beforeAll(async () => {
  emu = await startXEmulator({ bearerToken: TOKEN, suspendedIds: ['7', '123456'], clock });
});
afterAll(async () => {
  await emu.close();
});
beforeEach(() => {
  emu.reset();
});

// ---------------------------------------------------------------------------------------------

describe('spec drift', () => {
  it('has the schemas the emulator is checked against', () => {
    for (const name of [
      'Get2UsersResponse',
      'Get2UsersByResponse',
      'Get2TweetsResponse',
      'InvalidRequestProblem',
      'Problem',
      'User',
      'Tweet',
      'Expansions',
    ]) {
      expect(spec.components.schemas, name).toHaveProperty(name);
    }
  });

  it('validators are not vacuous: they reject bodies X would never send', () => {
    expect(v.users({ data: [{ id: 1, name: 'a', username: 'a' }] })).toBe(false); // id must be a string
    expect(v.users({ data: [{ id: '1', name: 'a' }] })).toBe(false); // username is required
    expect(v.users({ data: [] })).toBe(false); // data, when present, is non-empty
    expect(v.tweets({ data: [{ id: '1', text: 't', public_metrics: { retweet_count: 1 } }] })).toBe(false);
    expect(v.notFound({ type: X_PROBLEM_NOT_FOUND, title: 'Not Found Error' })).toBe(false);
    expect(v.problem({ title: 'Unauthorized' })).toBe(false);
  });

  it('accepts exactly the spec’s user.fields and user expansions on both user endpoints', () => {
    for (const path of ['/2/users', '/2/users/by']) {
      expect(xEmulatorAcceptedValues(path, 'user.fields')?.sort()).toEqual(specEnum('UserFieldsParameter'));
      expect(xEmulatorAcceptedValues(path, 'expansions')?.sort()).toEqual(specEnum('UserExpansionsParameter'));
    }
    expect(xEmulatorAcceptedValues('/2/tweets', 'user.fields')?.sort()).toEqual(specEnum('UserFieldsParameter'));
    for (const e of xEmulatorAcceptedValues('/2/tweets', 'expansions') ?? ['missing']) {
      expect(specEnum('TweetExpansionsParameter')).toContain(e);
    }
  });

  it('X_TWEET_FIELDS is exactly the spec’s TweetFieldsParameter', () => {
    expect([...X_TWEET_FIELDS].sort()).toEqual([...specEnum('TweetFieldsParameter')].sort());
  });

  it('answers 200 to every user.fields and expansions value the spec allows', async () => {
    const all = `user.fields=${specEnum('UserFieldsParameter').join(',')}&expansions=${specEnum('UserExpansionsParameter').join(',')}`;
    const r = await get(`/2/users?ids=1,2&${all}`);
    expect(r.status).toBe(200);
    expectValidLookup(v.users, r.body);
  });
});

describe('demo data', () => {
  it('is deterministic and well-formed across the whole id range', () => {
    expect(demoXUser(42)).toEqual(demoXUser(42));
    for (const id of [1, 3, 5, 17, 97, 9999, DEMO_MAX_ID]) {
      const u = demoXUser(id);
      expect(u.username).toMatch(X_USERNAME_PATTERN);
      expect(u.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      expect(u.protected).toBe(id % 17 === 0);
      expect(u.verified_type).toBe(id % 5 === 0 ? 'blue' : 'none');
      expect(u.pinned_tweet_id).toBe(id % 3 !== 0 ? String(id * 1000 + 1) : undefined);
      expect(u.most_recent_tweet_id).toBe(String(id * 1000 + 2));
      expect(u.withheld).toEqual(id % 97 === 0 ? { country_codes: ['DE'], scope: 'user' } : undefined);
      expect(demoXTweet(u.most_recent_tweet_id ?? '')?.author_id).toBe(String(id));
    }
    expect(demoXTweet(String(DEMO_MAX_ID * 1000 + 1000 + 2))).toBeUndefined();
    // Beyond the demo's users (the benchmarks' emulator knows ids up to 10^15), dates stay real: in the
    // demo's years, each user's tweets after it. Ids above ~4·10^9 used to throw (a 500 from the emulator).
    for (const id of [DEMO_MAX_ID + 1, 1_000_000, 4_294_967_296, 5_000_000_000, 999_999_999_999]) {
      const u = demoXUser(id);
      expect(u.created_at! >= '2009-03-01' && u.created_at! < '2017-06-01', `${id}: ${u.created_at}`).toBe(true);
      const tweet = demoXTweet(u.most_recent_tweet_id!, 1e15)!;
      expect(tweet.author_id).toBe(String(id));
      expect(tweet.created_at! > u.created_at!).toBe(true);
    }
    expect(demoXUser(1_000_000).created_at).toBe(demoXUser(DEMO_MAX_ID).created_at);
    expect(demoXTweet('1003')).toBeUndefined();
    expect(demoXTweet('01002')).toBeUndefined();
  });
});

describe('GET /2/users', () => {
  it('returns only id, name and username by default, as application/json', async () => {
    const r = await get('/2/users?ids=1');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(r.body).toEqual({ data: [{ id: '1', name: 'Demo User 1', username: 'user1' }] });
    expectValidLookup(v.users, r.body);
  });

  it('returns every requested field', async () => {
    const r = await get(`/2/users?ids=5,97&user.fields=${X_USER_FIELDS.join(',')}`);
    expect(r.status).toBe(200);
    expectValidLookup(v.users, r.body);
    const byId = new Map(r.body.data?.map((u) => [u.id, u]));
    expect(byId.get('5')).toEqual(demoXUser(5));
    expect(byId.get('97')).toEqual(demoXUser(97));
    expect(byId.get('97')?.withheld).toEqual({ country_codes: ['DE'], scope: 'user' });
    expect(byId.get('5')).toMatchObject({ verified: true, verified_type: 'blue', pinned_tweet_id: '5001' });
    expect(Object.keys(byId.get('5')?.public_metrics ?? {}).sort()).toEqual([
      'followers_count',
      'following_count',
      'like_count',
      'listed_count',
      'tweet_count',
    ]);
  });

  it('does not answer in request order, and lists duplicates once', async () => {
    const r = await get('/2/users?ids=1,2,3,4,2,1');
    expect(r.status).toBe(200);
    expectValidLookup(v.users, r.body);
    const got = r.body.data?.map((u) => u.id) ?? [];
    expect(got).toHaveLength(4);
    expect([...got].sort()).toEqual(['1', '2', '3', '4']);
    expect(got).not.toEqual(['1', '2', '3', '4']);
  });

  it('reports unknown and suspended users as errors next to the found ones', async () => {
    const r = await get('/2/users?ids=1,7,20000');
    expect(r.status).toBe(200);
    expectValidLookup(v.users, r.body);
    expect(r.body.data?.map((u) => u.id)).toEqual(['1']);
    expect(r.body.errors).toEqual([
      {
        value: '7',
        detail: 'User has been suspended: [7].',
        title: 'Forbidden',
        resource_type: 'user',
        parameter: 'ids',
        resource_id: '7',
        type: X_PROBLEM_NOT_FOUND,
      },
      {
        value: '20000',
        detail: 'Could not find user with ids: [20000].',
        title: 'Not Found Error',
        resource_type: 'user',
        parameter: 'ids',
        resource_id: '20000',
        type: X_PROBLEM_NOT_FOUND,
      },
    ]);
    expect(r.body).not.toHaveProperty('includes');
  });

  it('omits data entirely when nothing is found', async () => {
    const r = await get('/2/users?ids=20000,123456');
    expect(r.status).toBe(200);
    expectValidLookup(v.users, r.body);
    expect(r.body).not.toHaveProperty('data');
    expect(r.body.errors?.map((e) => [e.value, e.title])).toEqual([
      ['20000', 'Not Found Error'],
      ['123456', 'Forbidden'],
    ]);
  });

  it('expands pinned and most recent tweets into includes.tweets with tweet.fields', async () => {
    const r = await get('/2/users?ids=1,3&expansions=pinned_tweet_id,most_recent_tweet_id&tweet.fields=created_at,public_metrics,lang');
    expect(r.status).toBe(200);
    expectValidLookup(v.users, r.body);
    const byId = new Map(r.body.data?.map((u) => [u.id, u]));
    // The expanded id fields come back even though user.fields didn't ask for them.
    expect(byId.get('1')).toEqual({
      id: '1',
      name: 'Demo User 1',
      username: 'user1',
      pinned_tweet_id: '1001',
      most_recent_tweet_id: '1002',
    });
    expect(byId.get('3')).toEqual({ id: '3', name: 'Demo User 3', username: 'user3', most_recent_tweet_id: '3002' });
    const tweets = r.body.includes?.tweets ?? [];
    expect(tweets.map((t) => t.id).sort()).toEqual(['1001', '1002', '3002']);
    for (const t of tweets) {
      const full = demoXTweet(t.id);
      expect(t).toEqual({
        id: t.id,
        text: full?.text,
        edit_history_tweet_ids: [t.id],
        created_at: full?.created_at,
        public_metrics: full?.public_metrics,
        lang: 'en',
      });
    }
  });

  it('gives expanded tweets only id, text and edit_history_tweet_ids without tweet.fields', async () => {
    const r = await get('/2/users?ids=2&expansions=most_recent_tweet_id&user.fields=description');
    expect(r.status).toBe(200);
    expectValidLookup(v.users, r.body);
    expect(r.body.data?.[0]).toEqual({
      id: '2',
      name: 'Demo User 2',
      username: 'user2',
      description: demoXUser(2).description,
      most_recent_tweet_id: '2002',
    });
    expect(r.body.includes?.tweets).toEqual([{ id: '2002', text: demoXTweet('2002')?.text, edit_history_tweet_ids: ['2002'] }]);
  });
});

describe('GET /2/users/by', () => {
  it('matches usernames case-insensitively and reports unknown and suspended ones', async () => {
    const r = await get('/2/users/by?usernames=USER42,User42,user43,ghost,user7&user.fields=verified');
    expect(r.status).toBe(200);
    expectValidLookup(v.usersBy, r.body);
    expect(r.body.data?.map((u) => [u.username, u.id]).sort()).toEqual([
      ['user42', '42'],
      ['user43', '43'],
    ]);
    expect(r.body.data?.every((u) => typeof u.verified === 'boolean')).toBe(true);
    expect(r.body.errors).toEqual([
      {
        value: 'ghost',
        detail: 'Could not find user with usernames: [ghost].',
        title: 'Not Found Error',
        resource_type: 'user',
        parameter: 'usernames',
        resource_id: 'ghost',
        type: X_PROBLEM_NOT_FOUND,
      },
      {
        value: 'user7',
        detail: 'User has been suspended: [user7].',
        title: 'Forbidden',
        resource_type: 'user',
        parameter: 'usernames',
        resource_id: 'user7',
        type: X_PROBLEM_NOT_FOUND,
      },
    ]);
  });
});

describe('GET /2/tweets', () => {
  it('expands author_id into includes.users with user.fields', async () => {
    const r = await get<XLookupResponse<XApiTweet>>(
      '/2/tweets?ids=1001,1002,3002,1003,7002&expansions=author_id&tweet.fields=created_at&user.fields=verified,created_at',
    );
    expect(r.status).toBe(200);
    expectValidLookup(v.tweets, r.body);
    const data = r.body.data ?? [];
    expect(data.map((t) => t.id)).not.toEqual(['1001', '1002', '3002']);
    expect(data.map((t) => t.id).sort()).toEqual(['1001', '1002', '3002']);
    for (const t of data) {
      const full = demoXTweet(t.id);
      expect(t).toEqual({
        id: t.id,
        text: full?.text,
        edit_history_tweet_ids: [t.id],
        created_at: full?.created_at,
        author_id: full?.author_id,
      });
    }
    const users = r.body.includes?.users ?? [];
    expect(users.map((u) => u.id).sort()).toEqual(['1', '3']);
    for (const u of users) {
      const full = demoXUser(Number(u.id));
      expect(u).toEqual({ id: u.id, name: full.name, username: full.username, verified: full.verified, created_at: full.created_at });
    }
    // 1003 never existed; 7002 belongs to suspended user 7.
    expect(r.body.errors?.map((e) => [e.value, e.detail, e.resource_type, e.title])).toEqual([
      ['1003', 'Could not find tweet with ids: [1003].', 'tweet', 'Not Found Error'],
      ['7002', 'Could not find tweet with ids: [7002].', 'tweet', 'Not Found Error'],
    ]);
  });

  it('returns author_id and public_metrics only when asked', async () => {
    const plain = await get<XLookupResponse<XApiTweet>>('/2/tweets?ids=4002');
    expect(plain.body).toEqual({ data: [{ id: '4002', text: demoXTweet('4002')?.text, edit_history_tweet_ids: ['4002'] }] });
    const rich = await get<XLookupResponse<XApiTweet>>('/2/tweets?ids=4002&tweet.fields=public_metrics,author_id,lang');
    expectValidLookup(v.tweets, rich.body);
    expect(rich.body.data?.[0]).toMatchObject({ author_id: '4', lang: 'en', public_metrics: demoXTweet('4002')?.public_metrics });
  });
});

describe('400 invalid request', () => {
  interface Invalid {
    errors: { parameters: Record<string, string[]>; message: string }[];
    title: string;
    detail: string;
    type: string;
  }

  async function invalid(pathAndQuery: string): Promise<Invalid['errors']> {
    const r = await get<Invalid>(pathAndQuery);
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expectValid(v.invalid, r.body);
    expect(r.body).toMatchObject({
      title: 'Invalid Request',
      detail: 'One or more parameters to your request was invalid.',
      type: X_PROBLEM_INVALID_REQUEST,
    });
    return r.body.errors;
  }

  it('rejects a malformed id', async () => {
    expect(await invalid('/2/users?ids=1,abc')).toEqual([
      { parameters: { ids: ['abc'] }, message: 'The `ids` query parameter value [abc] is not valid' },
    ]);
  });

  it('rejects spaces and 20-digit ids', async () => {
    const errors = await invalid('/2/users?ids=1,%202,12345678901234567890');
    expect(errors.map((e) => e.parameters.ids?.[0])).toEqual([' 2', '12345678901234567890']);
  });

  it('rejects 101 ids but takes 100', async () => {
    const errors = await invalid(`/2/users?ids=${ids(101)}`);
    expect(errors).toEqual([
      { parameters: { ids: [ids(101)] }, message: 'The number of values in the `ids` query parameter list [101] is not between 1 and 100' },
    ]);
    const ok = await get(`/2/users?ids=${ids(100)}`);
    expect(ok.status).toBe(200);
    expect(ok.body.data).toHaveLength(99); // user 7 is suspended in this suite
    expect(ok.body.errors?.map((e) => e.value)).toEqual(['7']);
  });

  it('rejects a missing or empty list parameter', async () => {
    expect(await invalid('/2/users')).toEqual([{ parameters: { ids: [] }, message: 'The `ids` query parameter can not be empty' }]);
    expect(await invalid('/2/users/by?usernames=')).toEqual([
      { parameters: { usernames: [] }, message: 'The `usernames` query parameter can not be empty' },
    ]);
  });

  it('rejects an invalid username', async () => {
    expect(await invalid('/2/users/by?usernames=sixteen_chars_xx,ok')).toEqual([
      { parameters: { usernames: ['sixteen_chars_xx'] }, message: 'The `usernames` query parameter value [sixteen_chars_xx] is not valid' },
    ]);
  });

  it('rejects unknown field and expansion values', async () => {
    const errors = await invalid('/2/users?ids=1&user.fields=id,bogus&expansions=author_id&tweet.fields=nope');
    expect(errors).toEqual([
      {
        parameters: { expansions: ['author_id'] },
        message:
          'The `expansions` query parameter value [author_id] is not one of [affiliation.user_id,most_recent_tweet_id,pinned_tweet_id]',
      },
      {
        parameters: { 'tweet.fields': ['nope'] },
        message: `The \`tweet.fields\` query parameter value [nope] is not one of [${X_TWEET_FIELDS.join(',')}]`,
      },
      {
        parameters: { 'user.fields': ['bogus'] },
        message: `The \`user.fields\` query parameter value [bogus] is not one of [${X_USER_FIELDS.join(',')}]`,
      },
    ]);
    // The tweets endpoint has its own expansions.
    expect((await invalid('/2/tweets?ids=1001&expansions=pinned_tweet_id'))[0]?.message).toBe(
      'The `expansions` query parameter value [pinned_tweet_id] is not one of [author_id]',
    );
  });

  it('rejects unknown query parameters', async () => {
    expect(await invalid('/2/users?ids=1&foo=bar')).toEqual([
      { parameters: { foo: ['bar'] }, message: 'The query parameter [foo] is not one of [ids,expansions,tweet.fields,user.fields]' },
    ]);
    expect((await invalid('/2/users/by?usernames=a&ids=1'))[0]?.message).toBe(
      'The query parameter [ids] is not one of [usernames,expansions,tweet.fields,user.fields]',
    );
  });

  it('carries rate-limit headers and spends budget, as X does', async () => {
    const r = await get('/2/users?ids=x');
    expect(r.status).toBe(400);
    expect(r.headers.get('x-rate-limit-remaining')).toBe('299');
    expect((await get('/2/users?ids=1')).headers.get('x-rate-limit-remaining')).toBe('298');
  });
});

describe('auth', () => {
  it.each([
    ['missing', null],
    ['wrong', 'not-the-token'],
  ])('answers 401 to a %s bearer token without spending budget', async (_label, token) => {
    const r = await get('/2/users?ids=1', { token });
    expect(r.status).toBe(401);
    expect(r.headers.get('content-type')).toBe('application/problem+json');
    expect(r.body).toEqual({ title: 'Unauthorized', type: 'about:blank', status: 401, detail: 'Unauthorized' });
    expectValid(v.problem, r.body);
    expect((await get('/2/users?ids=1')).headers.get('x-rate-limit-remaining')).toBe('299');
  });
});

describe('rate limit', () => {
  it('sends x-rate-limit-* headers per endpoint path', async () => {
    const opened = nowS();
    const a = await get('/2/users?ids=1');
    clock.advance(10_000);
    const b = await get('/2/users?ids=1');
    const c = await get('/2/tweets?ids=1001');
    expect(a.headers.get('x-rate-limit-limit')).toBe('300');
    expect(a.headers.get('x-rate-limit-remaining')).toBe('299');
    expect(b.headers.get('x-rate-limit-remaining')).toBe('298');
    expect(c.headers.get('x-rate-limit-remaining')).toBe('299');
    // The window is 900 s from the whole second of its first request: later requests do not move it.
    expect(a.headers.get('x-rate-limit-reset')).toBe(String(opened + 900));
    expect(b.headers.get('x-rate-limit-reset')).toBe(String(opened + 900));
    expect(c.headers.get('x-rate-limit-reset')).toBe(String(nowS() + 900));
  });

  it('opens a fresh window at x-rate-limit-reset, not a moment before', async () => {
    const first = await get('/2/users?ids=1');
    const reset = Number(first.headers.get('x-rate-limit-reset'));
    clock.advance(reset * 1000 - clock.now() - 1);
    const last = await get('/2/users?ids=1');
    expect([last.headers.get('x-rate-limit-remaining'), last.headers.get('x-rate-limit-reset')]).toEqual(['298', String(reset)]);
    clock.advance(1);
    const fresh = await get('/2/users?ids=1');
    expect([fresh.headers.get('x-rate-limit-remaining'), fresh.headers.get('x-rate-limit-reset')]).toEqual(['299', String(reset + 900)]);
  });

  it('answers 429 once the budget is spent, until the window ends', async () => {
    const small = await startXEmulator({ bearerToken: TOKEN, rateLimit: { limit: 2, windowSeconds: 60 }, clock });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push(await get('/2/users?ids=1', { base: small.url }));
      expect(statuses.map((r) => [r.status, r.headers.get('x-rate-limit-remaining')])).toEqual([
        [200, '1'],
        [200, '0'],
        [429, '0'],
      ]);
      const limited = statuses[2];
      expect(limited?.headers.get('content-type')).toBe('application/problem+json');
      expect(limited?.headers.get('x-rate-limit-limit')).toBe('2');
      expect(limited?.body).toEqual({ title: 'Too Many Requests', detail: 'Too Many Requests', type: 'about:blank', status: 429 });
      expectValid(v.problem, limited?.body);
      // Other endpoints have their own budget.
      expect((await get('/2/users/by?usernames=user1', { base: small.url })).status).toBe(200);
      clock.advance(59_000);
      expect((await get('/2/users?ids=1', { base: small.url })).status).toBe(429);
      clock.advance(1_000);
      expect((await get('/2/users?ids=1', { base: small.url })).headers.get('x-rate-limit-remaining')).toBe('1');
      expect((await get('/2/users?ids=1', { base: small.url })).status).toBe(200);
      small.reset(); // a fresh budget at once
      expect((await get('/2/users?ids=1', { base: small.url })).status).toBe(200);
    } finally {
      await small.close();
    }
  });

  it('lets tests force the remaining budget and reset time', async () => {
    const reset = nowS() + 42;
    emu.setRemaining('/2/users', 0, reset);
    const r = await get('/2/users?ids=1');
    expect(r.status).toBe(429);
    expect(r.headers.get('x-rate-limit-reset')).toBe(String(reset));
    // A reset time that has come (this very second) means a fresh window on the next request.
    emu.setRemaining('/2/users', 0, nowS());
    const fresh = await get('/2/users?ids=1');
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('x-rate-limit-remaining')).toBe('299');
    emu.setRemaining('/2/users', 5);
    expect((await get('/2/users?ids=1')).headers.get('x-rate-limit-remaining')).toBe('4');
  });
});

describe('user-context tokens', () => {
  // Demo user 17 is protected (17 % 17 === 0) and pins post 17001; alice follows it, bob does not.
  const ALICE = 'alice-user-token-0001';
  const BOB = 'bob-user-token-0002';
  let users: XEmulator;
  const as = (token: string | null) => ({ token, base: users.url });
  const notAuthorized = schema('ResourceUnauthorizedProblem');

  beforeAll(async () => {
    users = await startXEmulator({
      bearerToken: TOKEN,
      userTokens: [
        { name: 'alice', token: ALICE, follows: ['17'] },
        { name: 'bob', token: BOB },
      ],
      protectedPosts: 'followers',
      rateLimit: { limit: 3, windowSeconds: 900 },
      memoizeBodies: true,
      clock,
    });
  });
  afterAll(async () => {
    await users.close();
  });
  beforeEach(() => users.reset());

  it('accepts the app token and each user token, logs who sent each request (never the token), and refuses others', async () => {
    const statuses = [];
    for (const token of [TOKEN, ALICE, BOB, 'carol-token', null]) statuses.push((await get('/2/users?ids=1', as(token))).status);
    expect(statuses).toEqual([200, 200, 200, 401, 401]);
    expect(users.requests.map((r) => r.principal)).toEqual(['app', 'alice', 'bob', '', '']);
    expect(JSON.stringify(users.requests)).not.toContain('token-000');
  });

  it("counts each user's calls in windows of its own, apart from the app's and from each other's", async () => {
    const remaining = async (token: string) => (await get('/2/users?ids=1', as(token))).headers.get('x-rate-limit-remaining');
    expect([await remaining(ALICE), await remaining(ALICE), await remaining(TOKEN), await remaining(BOB)]).toEqual(['2', '1', '2', '2']);
    users.setRemaining('/2/users', 0, nowS() + 600, 'alice');
    const limited = await get('/2/users?ids=1', as(ALICE));
    expect([limited.status, limited.headers.get('x-rate-limit-reset')]).toEqual([429, String(nowS() + 600)]);
    // Alice's 429 is hers alone.
    expect((await get('/2/users?ids=1', as(BOB))).status).toBe(200);
    expect((await get('/2/users?ids=1', as(TOKEN))).status).toBe(200);
  });

  it("shows a protected account's pinned post only to a user who follows it; others get X's not-authorized problem", async () => {
    const query = '/2/users?ids=17,1&expansions=pinned_tweet_id&tweet.fields=author_id&user.fields=protected';
    const alice = await get(query, as(ALICE));
    expectValidLookup(v.users, alice.body);
    expect(alice.body.includes?.tweets?.map((t) => t.id).sort()).toEqual(['1001', '17001']);
    expect(alice.body.errors).toBeUndefined();
    for (const token of [BOB, TOKEN]) {
      const other = await get(query, as(token));
      expectValid(v.users, other.body);
      // The account itself and its pinned_tweet_id are public; the post is not.
      expect(other.body.data?.find((u) => u.id === '17')).toMatchObject({ protected: true, pinned_tweet_id: '17001' });
      expect(other.body.includes?.tweets?.map((t) => t.id)).toEqual(['1001']);
      expect(other.body.errors).toEqual([
        {
          value: '17001',
          detail: 'Sorry, you are not authorized to see the Tweet with pinned_tweet_id: [17001].',
          title: 'Authorization Error',
          resource_type: 'tweet',
          parameter: 'pinned_tweet_id',
          resource_id: '17001',
          section: 'includes',
          type: X_PROBLEM_NOT_AUTHORIZED,
        },
      ]);
      expectValid(notAuthorized, other.body.errors?.[0]);
    }
  });

  it('answers a protected post looked up by id to a follower only, also from memoized bodies', async () => {
    for (let round = 0; round < 2; round++) {
      const alice = await get<XLookupResponse<XApiTweet>>('/2/tweets?ids=17001,1001', as(ALICE));
      const bob = await get<XLookupResponse<XApiTweet>>('/2/tweets?ids=17001,1001', as(BOB));
      expectValidLookup(v.tweets, alice.body);
      expect(alice.body.data?.map((t) => t.id).sort()).toEqual(['1001', '17001']);
      expectValid(v.tweets, bob.body);
      expect(bob.body.data?.map((t) => t.id)).toEqual(['1001']);
      expect(bob.body.errors?.map((e) => [e.resource_id, e.title, (e as { section?: string }).section])).toEqual([
        ['17001', 'Authorization Error', 'data'],
      ]);
      expectValid(notAuthorized, bob.body.errors?.[0]);
    }
  });
});

describe('fault injection and bookkeeping', () => {
  it('failNext answers the next N requests with a generic problem, then recovers', async () => {
    emu.failNext(2, 503, { 'retry-after': '1' });
    const first = await get('/2/users?ids=1');
    const second = await get('/2/tweets?ids=1001');
    const third = await get('/2/users?ids=1');
    for (const r of [first, second]) {
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      expect(r.headers.get('content-type')).toBe('application/problem+json');
      expect(r.body).toEqual({ title: 'Service Unavailable', detail: 'Service Unavailable', type: 'about:blank', status: 503 });
      expectValid(v.problem, r.body);
    }
    expect(third.status).toBe(200);
    // Injected faults happen "in front of" the API: they spend no budget.
    expect(third.headers.get('x-rate-limit-remaining')).toBe('299');

    emu.failNext(1, 500);
    emu.reset(); // reset drops pending faults too
    expect((await get('/2/users?ids=1')).status).toBe(200);
  });

  it("failNext with a shared fault: X's own 401 and 429 bodies, and broken answers after the normal checks", async () => {
    emu.failNext(1, { kind: 'status', status: 401 });
    emu.failNext(1, { kind: 'status', status: 429, headers: { 'x-rate-limit-remaining': '0', 'x-rate-limit-reset': String(nowS() + 60) } });
    const refused = await get('/2/users?ids=1');
    expect([refused.status, refused.body]).toEqual([
      401,
      { title: 'Unauthorized', type: 'about:blank', status: 401, detail: 'Unauthorized' },
    ]);
    const limited = await get('/2/users?ids=1');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('x-rate-limit-reset')).toBe(String(nowS() + 60));
    expectValid(v.problem, limited.body);

    // A truncated answer is the real one cut in half: the request went through X's checks and spent budget.
    emu.failNext(1, { kind: 'truncated-json' });
    const truncated = await fetch(`${emu.url}/2/users?ids=1`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(truncated.status).toBe(200);
    expect(truncated.headers.get('x-rate-limit-remaining')).toBe('299');
    const text = await truncated.text();
    expect(JSON.stringify(await (await get('/2/users?ids=1')).body).startsWith(text)).toBe(true);
    expect(() => JSON.parse(text)).toThrow(SyntaxError);

    emu.failNext(1, { kind: 'html', status: 502 });
    const html = await fetch(`${emu.url}/2/users?ids=1`);
    expect([html.status, html.headers.get('content-type')]).toEqual([502, 'text/html; charset=utf-8']);
    expect(await html.text()).toContain('<title>502 Bad Gateway</title>');
    expect(emu.requests.map((r) => r.status)).toEqual([401, 429, 200, 200, 502]);
  });

  it('records every request in order, whatever its status', async () => {
    await get('/2/users?ids=1', { token: null });
    await get('/2/users?ids=bad');
    await get('/2/users/by?usernames=user1&user.fields=verified');
    const notFound = await get('/1.1/users/lookup.json?user_id=1');
    expect(notFound.status).toBe(404);
    expect(notFound.body).toEqual({ errors: [{ message: 'Sorry, that page does not exist', code: 34 }] });
    expect(emu.requests).toEqual([
      { method: 'GET', path: '/2/users', query: { ids: '1' }, principal: '', status: 401 },
      { method: 'GET', path: '/2/users', query: { ids: 'bad' }, principal: 'app', status: 400 },
      { method: 'GET', path: '/2/users/by', query: { usernames: 'user1', 'user.fields': 'verified' }, principal: 'app', status: 200 },
      { method: 'GET', path: '/1.1/users/lookup.json', query: { user_id: '1' }, principal: 'app', status: 404 },
    ]);
    emu.reset();
    expect(emu.requests).toEqual([]);
  });
});

describe('server lifecycle', () => {
  it('applies latencyMs and closes promptly despite idle keep-alive sockets', async () => {
    const slow = await startXEmulator({ bearerToken: TOKEN, latencyMs: 60 });
    const started = performance.now();
    const r = await get('/2/users?ids=1', { base: slow.url });
    expect(r.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    // fetch keeps the socket alive in its pool; close() must not wait for it to time out (5 s).
    const closing = performance.now();
    await slow.close();
    expect(performance.now() - closing).toBeLessThan(1000);
    await expect(fetch(`${slow.url}/2/users?ids=1`)).rejects.toThrow();
  });
});
