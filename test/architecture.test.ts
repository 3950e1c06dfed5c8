import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';

/**
 * The import rules (.dependency-cruiser.cjs, docs/architecture.md) catch what they are for. `npm test`
 * runs them on the real tree (`npm run deps`), where they must find nothing; here they run on a small
 * tree with one breach of each rule planted, and must find exactly those.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const run = promisify(execFile);

/** The planted tree: each file, and the rules its imports break. */
const PLANTED: Record<string, { source: string; breaks: string[] }> = {
  // A cycle of type-only imports inside the core: reported once, where the cruise meets it first.
  'src/core/a.ts': { source: "import type { B } from './b.js';\nexport interface A { b?: B }\n", breaks: ['no-circular'] },
  'src/core/b.ts': { source: "import type { A } from './a.js';\nexport interface B { a?: A }\n", breaks: [] },
  // The core reaching up.
  'src/core/clock.ts': {
    source: "import { get } from '../upstream/http.js';\nexport const clock = get;\n",
    breaks: ['core-is-self-contained', 'layer: core'],
  },
  // Production code needing a dev dependency.
  'src/upstream/http.ts': {
    source: "import { expect } from 'vitest';\nexport const get = expect;\n",
    breaks: ['production-needs-no-dev-dependency'],
  },
  // A lower layer reaching a higher one.
  'src/cache/store.ts': {
    source: "import { context } from '../request/context.js';\nexport const store = context;\n",
    breaks: ['layer: cache'],
  },
  'src/request/context.ts': { source: 'export const context = 1;\n', breaks: [] },
  // src/ climbing into test/.
  'src/batching/loader.ts': {
    source: "import { fake } from '../../test/support/fake.js';\nexport const loader = fake;\n",
    breaks: ['src-never-imports-test'],
  },
  'test/support/fake.ts': { source: 'export const fake = 1;\n', breaks: [] },
  // Production code starting an emulator, past the registry.
  'src/app.ts': {
    source: "import { emulator } from './providers/x/emulator/server.js';\nexport const app = emulator;\n",
    breaks: ['test-kits-stay-out', 'providers-through-the-registry'],
  },
  'src/providers/x/emulator/server.ts': { source: 'export const emulator = 1;\n', breaks: [] },
  // One provider reaching into another.
  'src/providers/x/index.ts': {
    source: "import { telegram } from '../telegram/index.js';\nexport const x = telegram;\n",
    breaks: ['providers-stand-alone'],
  },
  'src/providers/telegram/index.ts': { source: 'export const telegram = 1;\n', breaks: [] },
  // A provider reaching for Redis, through the link or the client package, instead of asking for what it shares.
  'src/providers/x/client.ts': {
    source: "import { link } from '../../redis/link.js';\nexport const client = link;\n",
    breaks: ['providers-never-see-redis'],
  },
  'src/providers/telegram/client.ts': {
    source: "import type { Redis } from 'ioredis';\nexport type Client = Redis;\n",
    breaks: ['providers-never-see-redis'],
  },
  'src/redis/link.ts': { source: 'export const link = 1;\n', breaks: [] },
  // The contract used below the providers.
  'src/guard/limits.ts': {
    source: "import type { Contract } from '../providers/provider.js';\nexport type Limits = Contract;\n",
    breaks: ['contract-for-providers', 'providers-through-the-registry', 'layer: request services'],
  },
  'src/providers/provider.ts': { source: 'export interface Contract { id: string }\n', breaks: [] },
  // The demo loading the kits when the module loads, not when the demo starts.
  'src/demo.ts': { source: "import { kits } from './providers/kits.js';\nexport const demo = kits;\n", breaks: ['demo-loads-kits-lazily'] },
  'src/providers/kits.ts': { source: 'export const kits = [];\n', breaks: [] },
  // An import of nothing.
  'src/http/server.ts': { source: "import { gone } from './nowhere.js';\nexport const server = gone;\n", breaks: ['not-to-unresolvable'] },
};

/** Writes `files` into a new temp tree beside the repository's packages; `afterAll` removes it. */
const trees: string[] = [];
function plant(files: Record<string, { source: string }>): string {
  const tree = mkdtempSync(join(tmpdir(), 'users-subgraph-rules-'));
  trees.push(tree);
  // Both folders the cruise is given, whatever is planted: a missing one would fail it for that alone.
  for (const folder of ['src', 'test']) mkdirSync(join(tree, folder));
  for (const [path, { source }] of Object.entries(files)) {
    mkdirSync(dirname(join(tree, path)), { recursive: true });
    writeFileSync(join(tree, path), source);
  }
  writeFileSync(
    join(tree, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['src', 'test'] }),
  );
  writeFileSync(join(tree, 'package.json'), JSON.stringify({ name: 'planted', type: 'module', devDependencies: { vitest: '*' } }));
  symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'), 'dir');
  return tree;
}
afterAll(() => {
  for (const tree of trees) rmSync(tree, { recursive: true, force: true });
});

/** The cruise `npm run deps` runs, with the repository's rules, over `tree`: its exit code and output. */
const cruise = (tree: string, outputType: string) =>
  run(process.execPath, [cli, 'src', 'test', '--config', join(root, '.dependency-cruiser.cjs'), '--output-type', outputType], {
    cwd: tree,
  }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  );

let tree: string;
beforeAll(() => {
  tree = plant(PLANTED);
});

it('finds exactly the breaches planted, one rule each, type-only imports included', async () => {
  const { stdout } = await cruise(tree, 'json');
  const found = (JSON.parse(stdout) as { summary: { violations: Array<{ from: string; rule: { name: string } }> } }).summary.violations;
  const expected = Object.entries(PLANTED).flatMap(([path, { breaks }]) => breaks.map((rule) => `${path}: ${rule}`));
  expect(new Set(found.map((violation) => `${violation.from}: ${violation.rule.name}`))).toEqual(new Set(expected));
});

it('fails the command npm test runs when it finds one', async () => {
  expect((await cruise(tree, 'err')).code).toBeGreaterThan(0);
});

it('fails it for a cycle of type-only imports alone, naming no-circular', async () => {
  const cycle = plant({ 'src/core/a.ts': PLANTED['src/core/a.ts']!, 'src/core/b.ts': PLANTED['src/core/b.ts']! });
  const { code, stdout } = await cruise(cycle, 'err');
  expect(code).toBeGreaterThan(0);
  expect(stdout).toContain('no-circular');
  expect(stdout).toMatch(/1 dependency violations? \(1 errors?, 0 warnings\)/);
});
