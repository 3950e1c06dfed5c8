import { kits } from '../../src/providers/kits.js';
import { describeConformance } from './suite.js';

/** The conformance suite (`suite.ts`) for every provider of the registry, from its test kit. */
for (const kit of kits) describeConformance(kit, kits);
