import { afterEach, describe, expect, it } from 'vitest';
import { demoIds, type Harness, startHarness } from '../support/harness.js';

/**
 * Work nobody waits for any more is dropped: at the operation's deadline, and when its client goes
 * away. Waits here are for states the server reports (a request received, nothing in flight), never
 * for a length of time.
 */
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Resolves once `condition` holds, checking as the event loop turns (a test timeout ends a wait that never does). */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 10));
}

async function operationsInFlight(harness: Harness): Promise<number> {
  const text = await (await fetch(`${harness.url}/metrics`)).text();
  return Number(/^users_subgraph_operations_in_flight (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

// The operation's deadline (OPERATION_TIMEOUT_MS), and a client that goes away while its call is at the upstream, for
// every provider: the conformance suite, test/conformance/. Here, calls still queued in a pacer when it goes.

describe('a client that goes away', () => {
  it('drops its queued and in-flight upstream calls: nothing more is sent for it, and the next client is not kept waiting', async () => {
    h = await startHarness({ env: { NEXUDUS_MAX_FULL_RECORDS_PER_OPERATION: '40' } });
    const harness = h;
    const singles = () => harness.emulator('nexudus').requests.filter((r) => r.kind === 'single').length;
    // 40 full records: one paced call each (about 4 s at Nexudus's pace).
    const client = new AbortController();
    const abandoned = fetch(`${harness.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'query($ids: [ID!]!) { nexudusUsers(ids: $ids) { id isAdmin } }', variables: { ids: demoIds(40) } }),
      signal: client.signal,
    }).catch(() => 'aborted');
    await until(() => singles() >= 2);
    client.abort();
    expect(await abandoned).toBe('aborted');
    await until(async () => (await operationsInFlight(harness)) === 0);
    const sentForIt = singles();
    expect(sentForIt).toBeLessThan(40);

    // The pacer's queue no longer holds the abandoned calls: this lookup goes next, and nothing more follows it.
    const { body } = await harness.gql('{ nexudusUsers(ids: ["41"]) { id isAdmin } }');
    expect(body.errors).toBeUndefined();
    expect(body.data.nexudusUsers).toEqual([{ id: '41', isAdmin: expect.any(Boolean) }]);
    expect(singles()).toBe(sentForIt + 1);
    // (That a call cut off on the wire counts as `aborted` is shown in src/upstream/http.test.ts, where a
    // request is held on the wire for certain; here the abort may find every call waiting in the pacer.)
  });
});

describe("Nexudus's single-record fan-out has a per-operation ceiling", () => {
  it('beyond NEXUDUS_MAX_FULL_RECORDS_PER_OPERATION, each id fails alone with BAD_USER_INPUT and costs nothing', async () => {
    h = await startHarness({ env: { NEXUDUS_MAX_FULL_RECORDS_PER_OPERATION: '3' } });
    const { body } = await h.gql('{ nexudusUsers(ids: ["1", "2", "3", "4", "5"]) { id isAdmin } }');
    expect(body.data.nexudusUsers.map((user: { id: string } | null) => user?.id ?? null)).toEqual(['1', '2', '3', null, null]);
    expect(body.errors!.map((e) => e.extensions)).toEqual([
      { code: 'BAD_USER_INPUT', provider: 'nexudus', id: '4', limit: 'NEXUDUS_MAX_FULL_RECORDS_PER_OPERATION', max: 3 },
      { code: 'BAD_USER_INPUT', provider: 'nexudus', id: '5', limit: 'NEXUDUS_MAX_FULL_RECORDS_PER_OPERATION', max: 3 },
    ]);
    expect(body.errors![0]!.message).toContain('NEXUDUS_MAX_FULL_RECORDS_PER_OPERATION');
    expect(h.emulator('nexudus').requests.filter((r) => r.kind === 'single')).toHaveLength(3);
    // Without a full-record field the list call answers all five at once: the ceiling does not apply.
    h.reset();
    const partial = await h.gql('{ nexudusUsers(ids: ["1", "2", "3", "4", "5"]) { id fullName } }');
    expect(partial.body.errors).toBeUndefined();
  });
});
