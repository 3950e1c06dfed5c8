import { expect, it } from 'vitest';
import { observeBudgets, registry } from './metrics.js';

it('one scrape reads the budgets once for both gauges (a read may be a Redis script per window), and the next scrape reads again', async () => {
  let reads = 0;
  let remaining = 7;
  const stop = observeBudgets(async () => {
    reads++;
    return [{ provider: 'p', label: 'GET /users', remaining, limit: 40 }];
  });
  try {
    const first = await registry.metrics();
    expect(reads).toBe(1);
    expect(first).toMatch(/^users_subgraph_upstream_budget_remaining\{provider="p",method="GET \/users"\} 7$/m);
    expect(first).toMatch(/^users_subgraph_upstream_budget_limit\{provider="p",method="GET \/users"\} 40$/m);
    remaining = 6;
    await new Promise((resolve) => setImmediate(resolve));
    expect(await registry.metrics()).toMatch(/^users_subgraph_upstream_budget_remaining\{provider="p",method="GET \/users"\} 6$/m);
    expect(reads).toBe(2);
  } finally {
    stop();
  }
});
