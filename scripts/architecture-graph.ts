/**
 * The picture of the layers in docs/architecture.md: the import graph of src/ as dependency-cruiser
 * reads it (type-only imports included), each folder, provider folder or top-level file one box in its
 * layer (scripts/layers.cjs), an arrow from importer to imported. An arrow another path already implies
 * is left out, so that the picture shows the structure rather than every edge.
 *
 *   npm run deps:graph            rewrites the picture in docs/architecture.md
 *   npm run deps:graph -- --check exits 1 when it is out of date (npm test runs this)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

interface Layer {
  name: string;
  path: string;
  holds: string;
}
const { LAYERS, TEST_KITS, TESTS } = createRequire(import.meta.url)('./layers.cjs') as {
  LAYERS: Layer[];
  TEST_KITS: string;
  TESTS: string;
};

const root = fileURLToPath(new URL('..', import.meta.url));
const DOC = `${root}docs/architecture.md`;
const START = '<!-- the graph: written by `npm run deps:graph`, checked by `npm test`; do not edit -->';
const END = '<!-- end of the graph -->';

interface Cruised {
  modules: Array<{ source: string; dependencies: Array<{ resolved: string }> }>;
}

/** The box a module is drawn in; undefined for what is not drawn (tests, test kits, generated code, packages). */
function unitOf(path: string): string | undefined {
  if (!path.startsWith('src/') || new RegExp(`${TEST_KITS}|${TESTS}|^src/generated/`).test(path)) return undefined;
  const inside = path.slice('src/'.length);
  const provider = /^providers\/([^/]+)\//.exec(inside);
  if (provider !== null) return `providers/${provider[1]}`;
  const folder = /^([^/]+)\/[^/]+\//.exec(inside) ?? /^((?!providers\/)[^/]+)\//.exec(inside);
  return folder === null ? inside : `${folder[1]}/`;
}

function layerOf(path: string): Layer {
  const layer = LAYERS.find((candidate) => new RegExp(candidate.path).test(path));
  if (layer === undefined) throw new Error(`${path} is in no layer of scripts/layers.cjs`);
  return layer;
}

export function architectureGraph(): string {
  const cli = `${root}node_modules/dependency-cruiser/bin/dependency-cruise.mjs`;
  const json = execFileSync(process.execPath, [cli, 'src', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const cruised = JSON.parse(json) as Cruised;
  const layerOfUnit = new Map<string, Layer>();
  const edges = new Map<string, Set<string>>();
  for (const module of cruised.modules) {
    const from = unitOf(module.source);
    if (from === undefined) continue;
    layerOfUnit.set(from, layerOf(module.source));
    for (const { resolved } of module.dependencies) {
      const to = unitOf(resolved);
      if (to === undefined || to === from) continue;
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from)!.add(to);
    }
  }
  const reaches = (from: string, to: string, skip: [string, string]): boolean => {
    const seen = new Set<string>();
    const stack = [from];
    while (stack.length > 0) {
      const at = stack.pop()!;
      for (const next of edges.get(at) ?? []) {
        if (at === skip[0] && next === skip[1]) continue;
        if (next === to) return true;
        if (!seen.has(next)) {
          seen.add(next);
          stack.push(next);
        }
      }
    }
    return false;
  };
  const id = (unit: string) => unit.replace(/[^A-Za-z0-9]/g, '_');
  const unitsOf = (layer: Layer) =>
    [...layerOfUnit]
      .filter(([, of]) => of === layer)
      .map(([unit]) => unit)
      .sort();
  const lines = ['| Layer (top first) | Holds | In src/ |', '| --- | --- | --- |'];
  for (const layer of [...LAYERS].reverse()) {
    lines.push(
      `| ${layer.name} | ${layer.holds} | ${unitsOf(layer)
        .map((unit) => `\`${unit}\``)
        .join(', ')} |`,
    );
  }
  lines.push('', '```mermaid', 'flowchart TB');
  for (const layer of [...LAYERS].reverse()) {
    const units = unitsOf(layer);
    if (units.length === 0) continue;
    lines.push(`  subgraph ${id(`layer ${layer.name}`)}["${layer.name}"]`);
    for (const unit of units) lines.push(`    ${id(unit)}["${unit}"]`);
    lines.push('  end');
  }
  for (const from of [...edges.keys()].sort()) {
    for (const to of [...edges.get(from)!].sort()) if (!reaches(from, to, [from, to])) lines.push(`  ${id(from)} --> ${id(to)}`);
  }
  lines.push('```');
  return lines.join('\n');
}

function withGraph(doc: string, graph: string): string {
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error(`docs/architecture.md has no place for the graph (${START} … ${END})`);
  return `${doc.slice(0, start + START.length)}\n${graph}\n${doc.slice(end)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const doc = readFileSync(DOC, 'utf8');
  const current = withGraph(doc, architectureGraph());
  if (process.argv.includes('--check')) {
    if (current !== doc) {
      console.error('docs/architecture.md: the graph of the layers is out of date: run `npm run deps:graph`');
      process.exit(1);
    }
  } else {
    writeFileSync(DOC, current);
  }
}
