import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Harness, startHarness } from './support/harness.js';
import { xCalls } from './support/x.js';

/**
 * The README's own example, taken from README.md as a reader would copy it: the operation of its curl
 * command, the upstream call it promises, and the error it promises. If the README and the code part,
 * this fails.
 */
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const body = /-d '(\{"query":.*\})'/.exec(readme)?.[1];
const promisedCall = /costs exactly one upstream call, `GET (\/2\/users\?[^`]+)`/.exec(readme)?.[1];

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

it('the README example costs the one upstream call it promises and answers the error it promises', async () => {
  expect(body, 'the curl example in README.md').toBeDefined();
  expect(promisedCall, 'the upstream call promised in README.md').toBeDefined();
  const { status, body: answer } = await h.gql(JSON.parse(body!).query);
  expect(status).toBe(200);
  expect(answer.data.xUsers).toHaveLength(3);
  expect(answer.data.xUsers[0]).toMatchObject({ id: '1', username: 'user1', pinnedTweet: { author: { username: 'user1' } } });
  expect(answer.data.xUsers[2]).toBeNull();
  expect(answer.errors).toEqual([
    expect.objectContaining({ path: ['xUsers', 2], extensions: { code: 'NOT_FOUND', provider: 'x', id: '99999' } }),
  ]);

  const calls = xCalls(h);
  expect(calls).toHaveLength(1);
  const promised = new URL(promisedCall!, 'http://x');
  expect(calls[0]!.path).toBe(promised.pathname);
  // The same parameters with the same values (the wire encodes the commas; X decodes them).
  expect(calls[0]!.query).toEqual(Object.fromEntries(promised.searchParams));
});
