/**
 * The structure of the subgraph as rules (docs/architecture.md): `npm run deps` checks every import of
 * src/, test/ and bench/ against them, type-only imports included, and `npm test` runs it first.
 *
 * Layers (scripts/layers.cjs), from the bottom: a module imports only from its own layer or those below. The test kits
 * (emulators, `kit.ts`, `src/testing/`, `*.test-kit.ts`) and the tests stand beside the layers: they
 * may import anything, and nothing layered imports them (but the demo, which starts the emulators).
 */

const { LAYERS, TEST_KITS, TESTS } = require('./scripts/layers.cjs');

const NOT_LAYERED = `${TEST_KITS}|${TESTS}`;

const layerRules = LAYERS.slice(0, -1).map(({ name, path }, index) => ({
  name: `layer: ${name}`,
  comment: `${name} imports only from its own layer and those below: ${LAYERS.slice(0, index + 1)
    .map((below) => below.name)
    .join(', ')}`,
  severity: 'error',
  from: { path, pathNot: NOT_LAYERED },
  to: { path: LAYERS.slice(index + 1).map((above) => above.path), pathNot: LAYERS.slice(0, index + 1).map((below) => below.path) },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No module reaches itself again through its imports, type-only imports included.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-is-self-contained',
      comment: 'src/core (ids, field sets, keys, clock, errors, settings, lookups) imports nothing else of the project.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: '^(src|test|bench)/', pathNot: '^src/core/' },
    },
    ...layerRules,
    {
      name: 'providers-stand-alone',
      comment: 'A provider folder imports no other provider; only the contract and its own kit from src/providers/.',
      severity: 'error',
      from: { path: '^src/providers/([^/]+)/', pathNot: NOT_LAYERED },
      to: { path: '^src/providers/', pathNot: ['^src/providers/$1/', '^src/providers/provider[.]ts$', '^src/providers/kit[.]ts$'] },
    },
    {
      name: 'providers-never-see-redis',
      comment:
        'Nothing under src/providers/ imports src/redis/ or ioredis: a provider asks its context (`shared`) for a pacer, a token store or a rate budget, kept in Redis or in memory; it never sees Redis.',
      severity: 'error',
      from: { path: '^src/providers/' },
      to: { path: ['^src/redis/', '(^|/)node_modules/ioredis/'] },
    },
    {
      name: 'providers-through-the-registry',
      comment:
        'Outside src/providers/, production code names providers only through src/providers/registry.ts (the generated resolver types map to their wire types).',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/providers/', '^src/generated/', '^src/demo[.]ts$', NOT_LAYERED] },
      to: { path: '^src/providers/', pathNot: '^src/providers/registry[.]ts$' },
    },
    {
      name: 'contract-for-providers',
      comment: 'The provider contract (src/providers/provider.ts) is imported by providers and their registry only.',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/providers/', TESTS] },
      to: { path: '^src/providers/provider[.]ts$' },
    },
    {
      name: 'test-kits-stay-out',
      comment: 'Emulators, kits and test support are imported only by tests, benchmarks, other kits and the demo (by dynamic import).',
      severity: 'error',
      from: { pathNot: [NOT_LAYERED, '^src/demo[.]ts$'] },
      to: { path: TEST_KITS },
    },
    {
      name: 'demo-loads-kits-lazily',
      comment: 'The demo reaches the emulators by dynamic import only, so that a production start never loads them.',
      severity: 'error',
      from: { path: '^src/demo[.]ts$' },
      to: { path: TEST_KITS, dependencyTypesNot: ['dynamic-import'] },
    },
    {
      name: 'src-never-imports-test',
      comment: 'Nothing in src/ climbs into test/: shared test support lives in src/testing/.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^test/' },
    },
    {
      name: 'production-needs-no-dev-dependency',
      comment: 'Layered code runs with production dependencies alone (npm ci --omit=dev).',
      severity: 'error',
      from: { path: '^src/', pathNot: NOT_LAYERED },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves to a file or a package.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: {
      archi: { collapsePattern: '^src/(providers/[^/]+|[^/]+)(/|[.]ts$)' },
    },
  },
};
