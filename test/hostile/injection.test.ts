import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../support/harness.js';

/**
 * The parameter injections of issue 9, each through the way it got past the old guard: a value that
 * is not a valid id for its provider, whatever way it comes in, fails alone with BAD_USER_INPUT and
 * never reaches the upstream. Every case asserts that no emulator saw any request.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());
beforeEach(() => h.reset());

/** Every request any emulator saw since the last reset. */
function upstreamRequests(): unknown[] {
  return [
    ...h.emulator('x').requests,
    ...h.emulator('nexudus').requests,
    ...[...h.emulator('bitrix24').values()].flatMap((portal) => portal.requests),
    ...h.emulator('telegram').rpcs,
  ];
}

/** Runs the operation; asserts a 200 whose every error is BAD_USER_INPUT and that nothing was sent. */
async function refusedLocally(
  query: string,
  variables?: Record<string, unknown>,
): Promise<Array<{ path?: unknown; extensions?: Record<string, unknown> }>> {
  const { status, body } = await h.gql(query, variables);
  expect(status).toBe(200);
  expect(body.errors?.length).toBeGreaterThan(0);
  for (const error of body.errors!) expect(error.extensions!.code).toBe('BAD_USER_INPUT');
  expect(upstreamRequests()).toEqual([]);
  return body.errors!;
}

const FIELDS = {
  x: 'xUsers(ids: $v) { id }',
  telegram: 'telegramUsers(ids: $v) { id }',
  bitrix24: 'bitrix24Users(ids: $v) { id }',
  nexudus: 'nexudusUsers(ids: $v) { id isAdmin }',
} as const;
// Invalid for every provider (a leading zero is not: X's own pattern allows one).
const HOSTILE = ['1&user.fields=x', '2,3&user.fields=description', '../admin', '1/../2', '%2F', ' 7', '-1', '1e3', '１２', '1\n2'];

describe.each(Object.entries(FIELDS))('%s', (_provider, field) => {
  it('a scalar where a list is expected is checked as the one-item list GraphQL makes of it', async () => {
    for (const value of HOSTILE) await refusedLocally(`query($v: [ID!]!) { ${field} }`, { v: value });
  });

  it('a variable default value is checked like a given one', async () => {
    const defaults = JSON.stringify(HOSTILE);
    const errors = await refusedLocally(`query($v: [ID!]! = ${defaults}) { ${field} }`);
    expect(errors).toHaveLength(HOSTILE.length);
  });

  it('through a named fragment, an inline fragment and an alias', async () => {
    await refusedLocally(`query($v: [ID!]!) { ...Q } fragment Q on Query { aliased: ${field} }`, { v: HOSTILE });
    await refusedLocally(`query($v: [ID!]!) { ... on Query { ... { ${field} } } }`, { v: HOSTILE });
  });

  it('under @include and @skip, whichever way they go', async () => {
    await refusedLocally(`query($v: [ID!]!, $on: Boolean!) { a: ${field.replace('(ids: $v)', '(ids: $v) @include(if: $on)')} }`, {
      v: HOSTILE,
      on: true,
    });
    await refusedLocally(`query($v: [ID!]!, $off: Boolean!) { b: ${field.replace('(ids: $v)', '(ids: $v) @skip(if: $off)')} }`, {
      v: HOSTILE,
      off: false,
    });
    // Skipped: nothing runs at all, and nothing is sent.
    const { body } = await h.gql(`query($v: [ID!]!) { c: ${field.replace('(ids: $v)', '(ids: $v) @skip(if: true)')} }`, { v: HOSTILE });
    expect(body.errors).toBeUndefined();
    expect(upstreamRequests()).toEqual([]);
  });
});

describe('_entities', () => {
  it('a hostile key in a representation fails alone, for every entity type', async () => {
    const representations = [
      ...HOSTILE.map((id) => ({ __typename: 'XUser', id })),
      ...HOSTILE.map((id) => ({ __typename: 'Tweet', id })),
      ...HOSTILE.map((id) => ({ __typename: 'TelegramUser', id })),
      ...HOSTILE.map((id) => ({ __typename: 'Bitrix24User', portal: 'portal-a', id })),
      ...HOSTILE.map((id) => ({ __typename: 'NexudusUser', id })),
      { __typename: 'XUser', id: { $gt: '' } },
      { __typename: 'XUser' },
      { __typename: 'Bitrix24User', portal: 'no-such-portal', id: '1' },
    ];
    const errors = await refusedLocally('query($r: [_Any!]!) { _entities(representations: $r) { __typename } }', { r: representations });
    expect(errors).toHaveLength(representations.length);
  });

  it('in a default value too', async () => {
    await refusedLocally(
      'query($r: [_Any!]! = [{ __typename: "XUser", id: "1&user.fields=x" }]) { _entities(representations: $r) { __typename } }',
    );
  });
});

it('usernames are checked as strictly: X and Telegram', async () => {
  for (const value of ['a&expansions=x', 'a,b', 'x'.repeat(40), 'with space', '']) {
    await refusedLocally('query($v: [String!]!) { xUsersByUsername(usernames: $v) { id } }', { v: value });
    await refusedLocally('query($v: [String!]!) { telegramUsers(usernames: $v) { id } }', { v: [value] });
  }
});
