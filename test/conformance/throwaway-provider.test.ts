import { expect, it } from 'vitest';
import { kits } from '../../src/providers/kits.js';
import { providers } from '../../src/providers/registry.js';
import { acmeKit } from './acme/kit.js';
import { describeConformance } from './suite.js';

/**
 * The steps of adding a provider (docs/architecture.md, "Adding a provider"), followed for a provider beyond the
 * registry's that exists only here (`acme/`): its folder's worth of code (the provider from the contract, an
 * emulator, its conformance data), its SDL given as `typeDefs` (step 2's way for a provider outside `schema/`),
 * registered beside the registry's own in this test rather than in `registry.ts` and `kits.ts`; the conformance
 * suite runs for it as it does for them, and no test was written for it.
 */
const registered = [...kits, acmeKit];

it('is no provider of the subgraph: registered for this test only', () => {
  expect(providers.map((provider) => provider.id.name)).not.toContain('acme');
});

describeConformance(acmeKit, registered);
