import { expect, it } from 'vitest';
import { kits } from '../../src/providers/kits.js';
import { providers } from '../../src/providers/registry.js';
import { acmeKit } from './acme/kit.js';
import { describeConformance } from './suite.js';

/**
 * "Adding a provider" (README, docs/architecture.md), followed for a provider that exists only here (`acme/`): its folder's
 * worth of code (the provider from the contract, an emulator, its conformance data), registered beside the
 * registry's own, and the conformance suite runs for it as it does for them; no test was written for it.
 */
const registered = [...kits, acmeKit];

it('is no provider of the subgraph: registered for this test only', () => {
  expect(providers.map((provider) => provider.id.name)).not.toContain('acme');
});

describeConformance(acmeKit, registered);
