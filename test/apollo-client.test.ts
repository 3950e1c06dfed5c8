import { ApolloClient, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import possibleTypesResult from '../src/generated/client/possible-types.js';
import { typePolicies } from '../src/generated/client/type-policies.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * Apollo Client 4 with its InMemoryCache against the real server, as the README's "Apollo Client"
 * section sets it up: the generated `possibleTypes` and `typePolicies` (src/generated/client/), and
 * `errorPolicy: 'all'`. Each case also shows what goes wrong without the piece it is about.
 */

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ emulators: { bitrix24: { portals: [{ name: 'portal-a' }, { name: 'portal-b' }] } } });
});
afterAll(() => h.close());

function client(options: { kit: boolean }): ApolloClient {
  return new ApolloClient({
    link: new HttpLink({ uri: `${h.url}/graphql` }),
    cache: new InMemoryCache(
      options.kit ? { possibleTypes: possibleTypesResult.possibleTypes, typePolicies: { ...typePolicies } as never } : {},
    ),
  });
}

const USER_FIELDS = gql`
  fragment UserFields on ExternalUser {
    id
    displayName
    username
    profileUrl
  }
`;

describe('Apollo Client', () => {
  it('resolves fragments on the User interface with the generated possibleTypes (and drops them without)', async () => {
    const query = gql`
      query Users {
        xUsers(ids: ["12"]) { ...UserFields }
        telegramUsers(ids: ["100"]) { ...UserFields }
      }
      ${USER_FIELDS}
    `;
    const withKit = await client({ kit: true }).query({ query, errorPolicy: 'all', fetchPolicy: 'network-only' });
    expect(withKit.data).toMatchObject({
      xUsers: [{ __typename: 'XUser', id: '12', username: 'user12', profileUrl: 'https://x.com/user12' }],
      telegramUsers: [{ __typename: 'TelegramUser', id: '100' }],
    });
    expect((withKit.data as { xUsers: Array<{ displayName: string | null }> }).xUsers[0]!.displayName).toBeTruthy();

    // Without possibleTypes the cache cannot tell that XUser is a User: the fragment's fields are not read back.
    const without = await client({ kit: false }).query({ query, errorPolicy: 'all', fetchPolicy: 'network-only' });
    expect(without.error).toBeUndefined();
    expect(without.data).toEqual({ xUsers: [{ __typename: 'XUser' }], telegramUsers: [{ __typename: 'TelegramUser' }] });
  });

  it("keeps two portals' user 7 apart with the generated type policies (one entry without them)", async () => {
    const query = gql`
      query TwoPortals {
        a: bitrix24Users(ids: ["7"], portal: "portal-a") { id portal profileUrl }
        b: bitrix24Users(ids: ["7"], portal: "portal-b") { id portal profileUrl }
      }
    `;
    const withKit = client({ kit: true });
    const { data } = await withKit.query({ query, errorPolicy: 'all', fetchPolicy: 'network-only' });
    expect(data).toMatchObject({ a: [{ id: '7', portal: 'portal-a' }], b: [{ id: '7', portal: 'portal-b' }] });
    const keys = Object.keys(withKit.cache.extract() as Record<string, unknown>).filter((key) => key.startsWith('Bitrix24User'));
    expect(keys.sort()).toEqual(['Bitrix24User:{"portal":"portal-a","id":"7"}', 'Bitrix24User:{"portal":"portal-b","id":"7"}']);
    const { a, b } = data as { a: Array<{ profileUrl: string }>; b: Array<{ profileUrl: string }> };
    expect(a[0]!.profileUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/company\/personal\/user\/7\/$/);
    expect(a[0]!.profileUrl).not.toBe(b[0]!.profileUrl);

    // Keyed by id alone, portal-b's user 7 overwrites portal-a's.
    const naive = client({ kit: false });
    const merged = (await naive.query({ query, errorPolicy: 'all', fetchPolicy: 'network-only' })).data as { a: Array<{ portal: string }> };
    expect(merged.a[0]!.portal).toBe('portal-b');
  });

  it("keeps a partial result's data with errorPolicy 'all': the missing user is null at its index, with its error", async () => {
    const query = gql`
      query Partial {
        xUsers(ids: ["12", "99999999", "13"]) { id username }
      }
    `;
    const result = await client({ kit: true }).query({ query, errorPolicy: 'all', fetchPolicy: 'network-only' });
    expect(result.data).toEqual({
      xUsers: [{ __typename: 'XUser', id: '12', username: 'user12' }, null, { __typename: 'XUser', id: '13', username: 'user13' }],
    });
    const errors = (result.error as { errors?: Array<{ path: unknown[]; extensions: Record<string, unknown> }> } | undefined)?.errors;
    expect(errors?.map((e) => [e.path, e.extensions.code, e.extensions.provider, e.extensions.id])).toEqual([
      [['xUsers', 1], 'NOT_FOUND', 'x', '99999999'],
    ]);
    // The default policy ('none') throws the data away for one missing user.
    const strict = new ApolloClient({ link: new HttpLink({ uri: `${h.url}/graphql` }), cache: new InMemoryCache() });
    const dropped = await strict.query({ query, fetchPolicy: 'network-only' }).catch((error: unknown) => ({ data: undefined, error }));
    expect(dropped.data).toBeUndefined();
  });
});
