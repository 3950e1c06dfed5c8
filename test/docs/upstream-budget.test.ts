import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { providers } from '../../src/providers/registry.js';
import { type Harness, startHarness } from '../support/harness.js';

/**
 * docs/upstream-budget.md, held to the code: its `/ready` example is what `/ready` answers (same shape,
 * X's documented window), and its variables' defaults are the configuration's.
 */
const doc = readFileSync(new URL('../../docs/upstream-budget.md', import.meta.url), 'utf8');

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

it("the /ready example is /ready's answer after one X lookup", async () => {
  const example = JSON.parse(/```json\n\s*(\{.*\})\n/.exec(doc)![1]!) as { status: string; budgets: Array<Record<string, unknown>> };
  await h.gql('{ xUsers(ids: ["1"]) { id } }');
  const ready = (await (await fetch(`${h.url}/ready`)).json()) as typeof example & { circuits: unknown[] };
  expect(ready.status).toBe(example.status);
  const [documented] = example.budgets;
  const actual = ready.budgets.find((budget) => budget.provider === documented!.provider && budget.label === documented!.label);
  expect(actual).toBeDefined();
  expect(Object.keys(actual!).sort()).toEqual(Object.keys(documented!).sort());
  expect(actual!.limit).toBe(documented!.limit);
  expect(actual!.remaining).toBe(documented!.remaining);
});

it('the variables table gives the defaults the configuration has', () => {
  const defaults = loadConfig(providers, {}).upstream.planner;
  const row = (name: string) => new RegExp(`\\| \`${name}\` \\| \`(\\d+)\` \\|`).exec(doc)?.[1];
  expect(Number(row('UPSTREAM_MAX_HOLD_MS'))).toBe(defaults.maxHoldMs);
  expect(Number(row('UPSTREAM_MAX_QUEUED_IDS'))).toBe(defaults.maxQueuedIds);
});
