/**
 * The peer `npm run bench` measures beside the subgraph (docs/benchmarks.md, "The peer"): what the same
 * X lookups cost when a general-purpose gateway serves X's REST API as GraphQL. GraphQL Mesh composes a
 * supergraph from X's own OpenAPI specification (src/providers/x/emulator/x-openapi-2.159.json, the one the X
 * emulator is tested against), its source pointed at the benchmark's X emulator with the benchmark's
 * bearer token, and Hive Gateway serves it in a Node process of its own, so that its CPU and RSS are
 * read from /proc as the subgraph's are.
 *
 * Its options are the defaults of its CLI (`hive-gateway supergraph <file>`), so that the figures are
 * those of a peer as its users would run it, with no tuning the subgraph does not get in kind either:
 *   - composition: `loadOpenAPISubgraph` with only `source`, `endpoint` and the `Authorization` operation
 *     header; no transforms, no selection of operations, no additional type definitions;
 *   - gateway: one process (`--fork` left at 1: a second worker would be a second process whose CPU the
 *     benchmark does not read), no response cache, no `--jit`, no plugins, masked errors, WebSockets and
 *     the supergraph file watcher on as they come; `NODE_ENV=production` as the subgraph gets it;
 *   - Node: no flags (the subgraph's `--max-semi-space-size` is its own shipped setting, not the peer's).
 * Only the host (127.0.0.1) and a free port are given. The supergraph goes to a temporary directory,
 * which is also the gateway's working directory (no gateway config file of this repository is picked
 * up) and is removed when the gateway exits.
 *
 * The composition runs in a short-lived process of its own (`node --import tsx bench/peer.ts <file>`,
 * X_API_BASE_URL and X_BEARER_TOKEN in its environment), so that Mesh's modules and caches stay out of
 * the load generator's heap, and a failed composition (Mesh exits on it) does not end the benchmark.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { getComposedSchemaFromConfig } from '@graphql-mesh/compose-cli';
import { freePort } from '../src/testing/redis.js';
import { root, type Subgraph } from './processes.js';

const SPEC = `${root}src/providers/x/emulator/x-openapi-2.159.json`;
const require = createRequire(import.meta.url);
const gatewayPackage = require.resolve('@graphql-hive/gateway/package.json');

/** The packages of the peer and their versions, as installed (package.json pins them). */
export function peerDescription(): string {
  const version = (name: string) =>
    (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
  return `Hive Gateway ${version('@graphql-hive/gateway')} + Mesh Compose ${version('@graphql-mesh/compose-cli')} (@omnigraph/openapi ${version('@omnigraph/openapi')}), CLI defaults`;
}

/** Mesh's logger, its way: warnings and errors of the composition go to stderr, the rest is dropped. */
type MeshLogger = Parameters<typeof getComposedSchemaFromConfig>[1];
const composeLogger: MeshLogger = {
  log: () => {},
  debug: () => {},
  info: () => {},
  warn: (...args: unknown[]) => console.warn('peer composition:', ...args),
  error: (...args: unknown[]) => console.error('peer composition:', ...args),
  child: () => composeLogger,
};

/** The supergraph of X's OpenAPI specification, its calls going to `baseUrl` with `token`. */
export async function composeSupergraph(baseUrl: string, token: string): Promise<string> {
  // Loaded here only: importing this module (bench/run.ts does) loads none of Mesh.
  const { getComposedSchemaFromConfig } = await import('@graphql-mesh/compose-cli');
  const { loadOpenAPISubgraph } = await import('@omnigraph/openapi');
  return getComposedSchemaFromConfig(
    {
      subgraphs: [
        {
          sourceHandler: loadOpenAPISubgraph('X', {
            source: SPEC,
            endpoint: baseUrl,
            operationHeaders: { Authorization: `Bearer ${token}` },
          }),
        },
      ],
      cwd: root,
    },
    composeLogger,
  );
}

/** Resolves once the gateway answers a GraphQL request (its supergraph loaded), rejects if it exits first. */
async function answering(child: ChildProcess, origin: string, log: () => string): Promise<void> {
  let exited: number | string | null | undefined;
  child.once('exit', (code, signal) => {
    exited = code ?? signal;
  });
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    if (exited !== undefined) throw new Error(`the peer gateway exited ${exited}:\n${log()}`);
    try {
      const res = await fetch(`${origin}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      const text = await res.text();
      if (res.status === 200 && text.includes('"Query"')) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the peer gateway did not answer within 60 s:\n${log()}`);
}

/**
 * Composes the supergraph against the emulators of `upstreamEnv` (X_API_BASE_URL, X_BEARER_TOKEN) and
 * starts Hive Gateway on it; resolves once it answers. `stop(child)` (bench/processes.ts) ends it, and
 * its temporary directory goes with it.
 */
export async function startPeer(upstreamEnv: Record<string, string>): Promise<Subgraph> {
  const baseUrl = upstreamEnv.X_API_BASE_URL;
  const token = upstreamEnv.X_BEARER_TOKEN;
  if (baseUrl === undefined || token === undefined) throw new Error('the peer needs X_API_BASE_URL and X_BEARER_TOKEN');
  const dir = mkdtempSync(join(tmpdir(), 'users-subgraph-peer-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  // Also if the benchmark itself ends first (an error, Ctrl-C): nothing is left behind.
  process.once('exit', removeDir);
  const file = join(dir, 'supergraph.graphql');
  try {
    await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/peer.ts', file], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', X_API_BASE_URL: baseUrl, X_BEARER_TOKEN: token },
      timeout: 120_000,
    });
  } catch (error) {
    removeDir();
    process.off('exit', removeDir);
    const failed = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`the peer's composition failed: ${failed.message}\n${failed.stderr ?? ''}${failed.stdout ?? ''}`);
  }
  const port = await freePort();
  const bin = join(dirname(gatewayPackage), 'dist/bin.js');
  // `node <bin>`, not the npm bin's shim: the pid read from /proc must be the process that answers.
  const child = spawn(process.execPath, [bin, 'supergraph', file, '--host', '127.0.0.1', '--port', String(port)], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.once('exit', () => {
    removeDir();
    process.off('exit', removeDir);
  });
  // Its log is kept until it answers (to say why it did not), then read and dropped but for warnings and errors.
  let out = '';
  const keep = (chunk: string) => {
    out += chunk;
  };
  child.stdout!.setEncoding('utf8').on('data', keep);
  const origin = `http://127.0.0.1:${port}`;
  try {
    await answering(child, origin, () => out);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  child.stdout!.off('data', keep).on('data', (more: string) => {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the log's colours
    for (const line of more.replace(/\u001b\[[0-9;]*m/g, '').split('\n'))
      if (/\b(WRN|ERR|FTL)\b/.test(line)) process.stderr.write(`peer: ${line}\n`);
  });
  return { child, origin, path: '/graphql' };
}

// `node --import tsx bench/peer.ts <file>`: the composition, written to <file> (startPeer runs it).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file] = process.argv.slice(2);
  const { X_API_BASE_URL: baseUrl, X_BEARER_TOKEN: token } = process.env;
  if (file === undefined || baseUrl === undefined || token === undefined) {
    console.error('usage: X_API_BASE_URL=… X_BEARER_TOKEN=… node --import tsx bench/peer.ts <supergraph file>');
    process.exit(2);
  }
  writeFileSync(file, await composeSupergraph(baseUrl, token));
}
