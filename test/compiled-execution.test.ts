import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './support/harness.js';

/**
 * Compiled queries (graphql-jit, `src/execution/`) answer exactly what graphql-js answers: the same
 * operations go to two subgraphs, one of each, and their HTTP statuses and bodies must be equal, byte
 * for byte, errors and their order included. Every other test runs compiled from the first run; this
 * one holds the two side by side on the shapes where executors differ: lists whose items fail (first,
 * last, settling before the others), null bubbling, abstract types, fragments and directives, refused
 * variables, and the list-items ceiling, whose refused items are `Error`s in the list.
 */
const MISSING = '99999'; // beyond the emulators' demo users
const operations: Array<[string, string, Record<string, unknown>?]> = [
  [
    'aligned list, missing first, middle and last',
    'query($ids: [ID!]!) { xUsers(ids: $ids) { id name } }',
    { ids: [MISSING, '1', MISSING, '2', MISSING] },
  ],
  ['bad ids among good ones', 'query($ids: [ID!]!) { xUsers(ids: $ids) { id } }', { ids: ['1', 'x1', '2', '1&user.fields=x'] }],
  [
    'aliases, fragments, @skip/@include, nested expansions',
    `query($ids: [ID!]!, $no: Boolean!) {
      a: xUsers(ids: $ids) { ...F pinnedTweet { id text author { id username } } }
      b: xUsers(ids: ["3"]) { id name @skip(if: $no) username @include(if: $no) }
    }
    fragment F on XUser { id displayName publicMetrics { followersCount } createdAt }`,
    { ids: ['1', '17', MISSING], no: true },
  ],
  [
    '_entities across providers, a bad typename and a missing key',
    `query($r: [_Any!]!) { _entities(representations: $r) {
      __typename ... on XUser { id name } ... on TelegramUser { id username } ... on NexudusUser { id fullName }
    } }`,
    {
      r: [
        { __typename: 'XUser', id: '1' },
        { __typename: 'Nope', id: '1' },
        { __typename: 'TelegramUser', id: '2' },
        { __typename: 'NexudusUser' },
        { __typename: 'XUser', id: MISSING },
        { __typename: 'NexudusUser', id: '3' },
      ],
    },
  ],
  [
    'two id lists in one field, an unknown username last',
    'query($ids: [ID!], $names: [String!]) { telegramUsers(ids: $ids, usernames: $names) { id username } }',
    { ids: ['1', '2'], names: ['tg_user3', 'nobody_here_at_all'] },
  ],
  ['a scalar for a list, refused ids', 'query($v: [ID!]!) { bitrix24Users(ids: $v) { id name } }', { v: '0' }],
  ['variables refused before anything runs', 'query($v: [ID!]!) { xUsers(ids: $v) { id } }', { v: [{ a: 1 }] }],
  ['a missing non-null variable', 'query($v: [ID!]!) { xUsers(ids: $v) { id } }', {}],
  [
    'beyond the list-items ceiling (Errors as list items)',
    'query($ids: [ID!]!) { xUsers(ids: $ids) { id } }',
    { ids: ['1', '2', '3', '4', '5', '6'] },
  ],
  ['introspection of a type', '{ __type(name: "XUser") { name fields { name } } }'],
  ['_service', '{ _service { sdl } }'],
];

describe('compiled queries answer as graphql-js does', () => {
  let compiled: Harness;
  let interpreted: Harness;
  const env = { MAX_LIST_ITEMS_PER_OPERATION: '4', INTROSPECTION: '1' };
  beforeAll(async () => {
    compiled = await startHarness({ env: { ...env, GRAPHQL_EXECUTOR: 'compiled', GRAPHQL_COMPILE_AFTER_RUNS: '0' } });
    interpreted = await startHarness({ env: { ...env, GRAPHQL_EXECUTOR: 'graphql-js' } });
  });
  afterAll(async () => {
    await compiled?.close();
    await interpreted?.close();
  });

  it.each(operations)('%s', async (_name, query, variables) => {
    const [a, b] = await Promise.all([compiled.gql(query, variables), interpreted.gql(query, variables)]);
    expect(JSON.stringify(a.body)).toBe(JSON.stringify(b.body));
    expect(a.status).toBe(b.status);
    // Both answered something of substance (a corpus of empty answers would prove nothing).
    expect(a.body.data ?? a.body.errors).toBeTruthy();
  });

  it('the same upstream calls either way', async () => {
    compiled.reset();
    interpreted.reset();
    const query = operations[2]![1];
    const variables = operations[2]![2];
    await compiled.gql(query, variables);
    await interpreted.gql(query, variables);
    expect(compiled.emulator('x').requests).toEqual(interpreted.emulator('x').requests);
    expect(compiled.emulator('x').requests.length).toBeGreaterThan(0);
  });
});
