import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Harness, startHarness } from './support/harness.js';

/** What the log lines look like to whoever reads them (and to the tools that parse them). */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { UPSTREAM_MAX_ATTEMPTS: '2' } });
});
afterAll(() => h.close());

it('every line is JSON with each key once: the provider is named once, even by a child logger of the provider', async () => {
  h.emulator('x').failNext(5, 503);
  h.emulator('nexudus').failNext(5, 503);
  h.emulator('telegram').failNext(5, 500, 'RPC_CALL_FAIL');
  [...h.emulator('bitrix24').values()][0]!.failNext(5, 500);
  await h.gql(
    '{ xUsers(ids: ["1"]) { id } nexudusUsers(ids: ["1"]) { id } telegramUsers(ids: ["1"]) { id } bitrix24Users(ids: ["1"]) { id } }',
  );
  const providerLines = h.logs.filter((line) => line.includes('"provider":'));
  // Retries and failures of all four providers were logged...
  expect(new Set(providerLines.map((line) => JSON.parse(line).provider))).toEqual(new Set(['x', 'nexudus', 'telegram', 'bitrix24']));
  // ...and no line repeats a key (JSON.parse would keep only the last of two).
  for (const line of h.logs) {
    const keys = [...line.matchAll(/"([^"]+)":/g)].map((match) => match[1]);
    const topLevel = Object.keys(JSON.parse(line));
    for (const key of topLevel) expect(keys.filter((k) => k === key).length, `${key} in ${line}`).toBe(1);
  }
});
