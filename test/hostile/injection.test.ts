import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../support/harness.js';

/**
 * The parameter injections of issue 9 that only one provider can meet (X's posts, Bitrix24's portals,
 * usernames): a value that is not a valid key fails alone with BAD_USER_INPUT and never reaches the
 * upstream. Every case asserts that no emulator saw any request.
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

/** Invalid for every provider (a leading zero is not: X's own pattern allows one). */
const HOSTILE = ['1&user.fields=x', '2,3&user.fields=description', '../admin', '1/../2', '%2F', ' 7', '-1', '1e3', '１２', '1\n2'];

// Every provider's ids, whichever way they come in (a scalar for a list, a default value, fragments, @include,
// `_entities`): the conformance suite, test/conformance/. Here: what only one provider has.

describe('_entities', () => {
  it("a hostile key in a representation of X's Tweet, or of a Bitrix24 portal that is not configured, fails alone", async () => {
    const representations = [
      ...HOSTILE.map((id) => ({ __typename: 'XTweet', id })),
      { __typename: 'XTweet', id: { $gt: '' } },
      { __typename: 'Bitrix24User', portal: 'no-such-portal', id: '1' },
      { __typename: 'Bitrix24User', portal: { $ne: '' }, id: '1' },
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
