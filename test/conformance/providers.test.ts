import { expect, it } from 'vitest';
import { kits } from '../../src/providers/kits.js';
import { providers } from '../../src/providers/registry.js';
import { describeConformance } from './suite.js';

/** The conformance suite (`suite.ts`) for every provider of the registry, from its test kit. */

it('every provider of the registry has a test kit, in registry order: none goes untested', () => {
  expect(kits.map((kit) => kit.provider)).toEqual(providers);
  for (const kit of kits) expect(kit.name).toBe(kit.provider.id.name);
});

for (const kit of kits) describeConformance(kit, kits);
