import { fileURLToPath } from 'node:url';
import { Client, type CombinedError, fetchExchange } from '@urql/core';
import { type CacheExchangeOpts, cacheExchange } from '@urql/exchange-graphcache';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { typePolicies } from '../src/generated/client/type-policies.js';
import { keys, possibleTypes, resolvers } from '../src/generated/client/urql-graphcache.js';
import { type Harness, startHarness } from './support/harness.js';
import { typeErrors } from './support/type-check.js';

/**
 * urql with Graphcache against the real server, set up as examples/urql/client.ts (the docs' snippet) does: the
 * generated `keys`, `possibleTypes` and `resolvers` (src/generated/client/urql-graphcache.ts), queries by POST. Each
 * case also shows what goes wrong without the piece it is about. The interface's name comes from the generated file,
 * so that these survive its renaming. Graphcache returns `__typename` only where a query selects it.
 */

const root = fileURLToPath(new URL('..', import.meta.url));

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ emulators: { bitrix24: { portals: [{ name: 'portal-a' }, { name: 'portal-b' }] } } });
});
afterAll(() => h.close());
afterEach(() => vi.restoreAllMocks());

type Links = Array<string | null>;

/** A client as the example makes it (`kit: false`: Graphcache's defaults), counting its requests to the server. */
function client(options: { kit: boolean } & Pick<CacheExchangeOpts, 'updates' | 'logger' | 'resolvers'>) {
  const requests: string[] = [];
  const { kit, ...rest } = options;
  const urql = new Client({
    url: `${h.url}/graphql`,
    exchanges: [cacheExchange(kit ? { keys, possibleTypes, resolvers, ...rest } : rest), fetchExchange],
    preferGetMethod: false,
    fetch: (input, init) => {
      requests.push(String(input));
      return fetch(input, init);
    },
  });
  return { urql, requests };
}

/** An updater that records the cache keys `Query.bitrix24Users` links to once written: the entries the users went to. */
function recordLinks(into: Links[]): CacheExchangeOpts['updates'] {
  return {
    Query: {
      bitrix24Users: (_result, args, cache) => {
        into.push(cache.resolve('Query', 'bitrix24Users', args) as Links);
      },
    },
  };
}

/** The one interface (or union) of the schema and its object types, as the generated file names them. */
function theInterface(): [name: string, members: string[]] {
  const entries = Object.entries(possibleTypes as Record<string, string[]>);
  expect(entries).toHaveLength(1);
  return entries[0]!;
}

describe('urql with Graphcache', () => {
  it('keys every entity from its @key fields, as the Apollo type policies do, and gives null when one is not selected', () => {
    const generated = keys as Record<string, (entity: Record<string, unknown>) => string | null>;
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const policies = Object.entries(typePolicies as Record<string, { keyFields: readonly string[] }>);
    for (const [type, { keyFields }] of policies) {
      const entity = Object.fromEntries(keyFields.map((field, i) => [field, `${field}-${i}`]));
      expect(generated[type]!({ __typename: type, ...entity, other: 'x' }), type).toBe(
        keyFields.map((field, i) => `${field}-${i}`).join('|'),
      );
      for (const field of keyFields) expect(generated[type]!({ __typename: type, ...entity, [field]: undefined }), type).toBeNull();
    }
    // Each type's first null said so, once (a query that misses a key field is to be fixed, not logged on every write).
    expect(warn.mock.calls.map(([message]) => message)).toEqual(
      policies.map(([type, { keyFields }]) => expect.stringContaining(`${type} selected without ${keyFields[0]},`)),
    );
    // A value with `|` in it cannot make two entities share a key.
    expect(generated.Bitrix24User!({ portal: 'a|b', id: '7' })).not.toBe(generated.Bitrix24User!({ portal: 'a', id: 'b|7' }));
  });

  it("keeps two portals' user 7 apart with the generated keys (one entry without them)", async () => {
    const query = `
      query TwoPortals {
        a: bitrix24Users(ids: ["7"], portal: "portal-a") { id portal profileUrl }
        b: bitrix24Users(ids: ["7"], portal: "portal-b") { id portal profileUrl }
      }
    `;
    type TwoPortals = { a: Array<{ id: string; portal: string; profileUrl: string }>; b: TwoPortals['a'] };
    const links: Links[] = [];
    const { urql } = client({ kit: true, updates: recordLinks(links) });
    const { data, error } = await urql.query<TwoPortals>(query, {}, { requestPolicy: 'network-only' }).toPromise();
    expect(error).toBeUndefined();
    expect(data).toMatchObject({ a: [{ id: '7', portal: 'portal-a' }], b: [{ id: '7', portal: 'portal-b' }] });
    expect(data!.a[0]!.profileUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/company\/personal\/user\/7\/$/);
    expect(data!.a[0]!.profileUrl).not.toBe(data!.b[0]!.profileUrl);
    expect(links).toEqual([['Bitrix24User:portal-a|7'], ['Bitrix24User:portal-b|7']]);
    // Read back from the cache alone, portal-a's user 7 is still portal-a's.
    const fromCache = await urql
      .query<TwoPortals>(
        `{ a: bitrix24Users(ids: ["7"], portal: "portal-a") { id portal profileUrl } }`,
        {},
        { requestPolicy: 'cache-only' },
      )
      .toPromise();
    expect(fromCache.data?.a).toEqual(data!.a);

    // Keyed by id alone (Graphcache's default), both are `Bitrix24User:7`: portal-b's user 7 overwrites portal-a's.
    const naiveLinks: Links[] = [];
    const naive = await client({ kit: false, updates: recordLinks(naiveLinks) })
      .urql.query<TwoPortals>(query, {}, { requestPolicy: 'network-only' })
      .toPromise();
    expect(naiveLinks).toEqual([['Bitrix24User:7'], ['Bitrix24User:7']]);
    expect(naive.data!.a[0]!.portal).toBe('portal-b');
  });

  it('stores a user selected without a key field inside its parent rather than keying it by the rest', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const links: Links[] = [];
    const { urql } = client({ kit: true, updates: recordLinks(links) });
    const { data, error } = await urql
      .query(`{ bitrix24Users(ids: ["7"], portal: "portal-a") { id profileUrl } }`, {}, { requestPolicy: 'network-only' })
      .toPromise();
    expect(error).toBeUndefined();
    expect(data.bitrix24Users).toEqual([{ id: '7', profileUrl: expect.stringMatching(/\/user\/7\/$/) }]);
    expect(links).toHaveLength(1);
    // Not `Bitrix24User:7`, shared with every other portal's user 7: a place of its own under this query's field.
    expect(links[0]![0]).toMatch(/^Query\.bitrix24Users\(.*\)\.0$/);
  });

  it('resolves a fragment on the users interface from the cache with the generated possibleTypes (and drops its fields without)', async () => {
    const [iface, members] = theInterface();
    expect(members).toEqual(expect.arrayContaining(['XUser', 'TelegramUser', 'Bitrix24User', 'NexudusUser']));
    const idsOnly = `{ xUsers(ids: ["12"]) { id } telegramUsers(ids: ["100"]) { id } }`;
    const withFragment = `
      query Users {
        xUsers(ids: ["12"]) { id ...UserFields }
        telegramUsers(ids: ["100"]) { id ...UserFields }
      }
      fragment UserFields on ${iface} { displayName username profileUrl }
    `;

    // The users are cached with their ids only; the fragment's fields are not there yet.
    const kit = client({ kit: true });
    await kit.urql.query(idsOnly, {}, { requestPolicy: 'network-only' }).toPromise();
    // Known to match, the fragment's fields are missing: a cache miss, so they are fetched...
    const fetched = await kit.urql.query(withFragment, {}, { requestPolicy: 'cache-first' }).toPromise();
    expect(kit.requests).toHaveLength(2);
    expect(fetched.data).toMatchObject({
      xUsers: [{ id: '12', username: 'user12', profileUrl: 'https://x.com/user12' }],
      telegramUsers: [{ id: '100' }],
    });
    expect(fetched.data.xUsers[0].displayName).toBeTruthy();
    // ...and from then on read from the cache alone.
    const cached = await kit.urql.query(withFragment, {}, { requestPolicy: 'cache-only' }).toPromise();
    expect(kit.requests).toHaveLength(2);
    expect(cached.data).toEqual(fetched.data);

    // Without possibleTypes Graphcache guesses: a fragment whose fields are not cached does not match, so the
    // result counts as complete without them. No request is made, and the fragment's fields are simply absent.
    const warnings: string[] = [];
    const naive = client({ kit: false, logger: (_severity, message) => warnings.push(message) });
    await naive.urql.query(idsOnly, {}, { requestPolicy: 'network-only' }).toPromise();
    const guessed = await naive.urql.query(withFragment, {}, { requestPolicy: 'cache-first' }).toPromise();
    expect(naive.requests).toHaveLength(1);
    expect(guessed.data).toEqual({ xUsers: [{ id: '12' }], telegramUsers: [{ id: '100' }] });
    // One warning per user type it guessed for.
    expect(warnings).toEqual([
      expect.stringMatching(/^Heuristic Fragment Matching.*`XUser`/),
      expect.stringMatching(/^Heuristic.*`TelegramUser`/),
    ]);
  });

  it("keeps a partial result's data with the generated resolvers: the missing user is null at its index, with its error", async () => {
    const query = `query Partial { xUsers(ids: ["12", "99999999", "13"]) { id username } }`;
    const expected = { xUsers: [{ id: '12', username: 'user12' }, null, { id: '13', username: 'user13' }] };
    const notFound = [[['xUsers', 1], 'NOT_FOUND', 'x', '99999999']];
    const errorsOf = (result: { error?: CombinedError }) =>
      result.error?.graphQLErrors.map((e) => [e.path, e.extensions.code, e.extensions.provider, e.extensions.id]);

    const { urql, requests } = client({ kit: true });
    const result = await urql.query(query, {}).toPromise();
    expect(result.data).toEqual(expected);
    expect(errorsOf(result)).toEqual(notFound);

    // Read again (cache-first): the cached list at once, marked stale, and the server asked again in the background,
    // whose answer brings the error back. Once: the answer does not set off another round.
    const seen: Array<{ stale: boolean; data: unknown; errors: unknown }> = [];
    const settled = new Promise<void>((resolve) => {
      const { unsubscribe } = urql.query(query, {}, { requestPolicy: 'cache-first' }).subscribe((next) => {
        seen.push({ stale: Boolean(next.stale), data: next.data, errors: errorsOf(next) });
        if (next.stale) return;
        setTimeout(() => {
          unsubscribe();
          resolve();
        }, 300);
      });
    });
    await settled;
    expect(seen).toEqual([
      { stale: true, data: expected, errors: undefined },
      { stale: false, data: expected, errors: notFound },
    ]);
    expect(requests).toHaveLength(2);

    // Without them Graphcache, which does not store the item that failed, takes the gap for a cache miss: no data at all.
    const naive = await client({ kit: false }).urql.query(query, {}).toPromise();
    expect(naive.data).toBeNull();
    expect(errorsOf(naive)).toEqual(notFound);
  });

  it('sends queries by POST as the example sets it: a GET without a preflight header is refused', async () => {
    const methods: string[] = [];
    const get = new Client({
      url: `${h.url}/graphql`,
      exchanges: [fetchExchange],
      fetch: (input, init) => {
        methods.push(init?.method ?? 'GET');
        return fetch(input, init);
      },
    });
    const refused = await get.query(`{ xUsers(ids: ["12"]) { id } }`, {}).toPromise();
    expect(methods).toEqual(['GET']);
    expect(refused.data).toBeUndefined();
    expect(refused.error?.message).toMatch(/Cross-Site Request Forgery/);
  });
});

describe('examples/urql/client.ts (the docs snippet)', () => {
  it('type-checks against the pinned urql packages, importing the generated file as a client that copied it would', () => {
    const example = `${root}examples/urql/client.ts`;
    const generated = `${root}src/generated/client/urql-graphcache.ts`;
    // A browser client's settings, with the example's folder and src/generated/client/ overlaid (rootDirs), so that
    // its `./urql-graphcache` is the generated file, as after copying it.
    const { errors, program } = typeErrors([example], {
      module: 'ESNext',
      moduleResolution: 'Bundler',
      lib: ['ES2022', 'DOM'],
      types: [],
      rootDirs: ['examples/urql', 'src/generated/client'],
    });
    expect(errors).toBe('');
    expect(program.getSourceFile(generated)).toBeDefined();
  }, 30_000);
});
