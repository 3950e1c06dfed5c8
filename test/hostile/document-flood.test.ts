import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Harness, startHarness } from '../support/harness.js';

/**
 * A flood of distinct documents (issue 20, finding 4): each compiled query is kept beside its document,
 * about 34 KB, and Apollo's default document cache, bounded by the documents' JSON length, let a flood of
 * small distinct documents grow the process from 128 MiB to 1.1 GiB. The cache now holds at most
 * GRAPHQL_DOCUMENT_CACHE_ENTRIES documents, and what it forgets, compiled queries included, goes: a
 * document sent again after it was forgotten is parsed and compiled again.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { GRAPHQL_DOCUMENT_CACHE_ENTRIES: '2' } });
});
afterAll(() => h.close());

async function compiled(): Promise<number> {
  const text = await (await fetch(`${h.url}/metrics`)).text();
  return Number(/^users_subgraph_graphql_documents_compiled_total (\d+)/m.exec(text)?.[1] ?? 0);
}

it('keeps at most GRAPHQL_DOCUMENT_CACHE_ENTRIES documents: the oldest is forgotten with its compiled query', async () => {
  const documents = ['{ xUsers(ids: ["1"]) { id } }', '{ xUsers(ids: ["2"]) { id } }', '{ xUsers(ids: ["3"]) { id } }'];
  const before = await compiled();
  for (const document of documents) expect((await h.gql(document)).body.errors).toBeUndefined();
  expect(await compiled()).toBe(before + 3);
  // The last two are still held: no compiling again.
  await h.gql(documents[1]!);
  await h.gql(documents[2]!);
  expect(await compiled()).toBe(before + 3);
  // The first was forgotten when the third came: parsed and compiled again.
  await h.gql(documents[0]!);
  expect(await compiled()).toBe(before + 4);
});
