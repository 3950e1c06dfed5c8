/**
 * The layers of src/, bottom first (docs/architecture.md): a module imports only from its own layer and
 * those below. Each is a path pattern; a module belongs to the first that matches. Read by the import
 * rules (.dependency-cruiser.cjs) and the picture of them (scripts/architecture-graph.ts).
 */
const LAYERS = [
  { name: 'core', path: '^src/core/', holds: 'provider ids, field sets, key specs, clock, error codes, settings, lookups' },
  { name: 'telemetry', path: '^src/telemetry/', holds: 'spans, log lines, Prometheus metrics' },
  { name: 'redis', path: '^src/redis/', holds: 'the one Redis link, and Redis-or-memory per use' },
  { name: 'upstream', path: '^src/upstream/', holds: 'HTTP to upstreams: retries, circuits, pacing, rate budgets, tokens' },
  { name: 'cache', path: '^src/cache/', holds: 'the record cache: memory, Redis, fetch claims' },
  { name: 'batching', path: '^src/batching/', holds: 'the shared layer: coalescer, cache triage, replica claims' },
  {
    name: 'request services',
    path: '^src/(plan|credentials|auth|guard|execution|explorer)/',
    holds: 'field plans, caller credentials, access control, input guards, compiled execution, the explorer',
  },
  { name: 'providers', path: '^src/(providers|generated)/', holds: 'the contract, one folder per provider, the registry' },
  { name: 'request', path: '^src/request/', holds: "a request's context and the factory that makes it" },
  { name: 'edge', path: '^src/(plugins|http)/|^src/[^/]+[.]ts$', holds: 'Apollo plugins, the HTTP server, configuration, start-up' },
];

/** Test kits: emulators, kits and their conformance data, test support. Beside the layers, never imported by layered code (but the demo's dynamic import). */
const TEST_KITS =
  '^src/emulators/|^src/providers/[^/]+/emulator/|^src/providers/kits?[.]ts$|^src/providers/[^/]+/(kit|conformance)[.]ts$|^src/testing/|[.]test-kit[.]ts$';
/** Tests and benchmarks: they may import anything. */
const TESTS = '[.]test[.]ts$|^test/|^bench/|^scripts/';

module.exports = { LAYERS, TEST_KITS, TESTS };
