/**
 * The processes the benchmarks measure, started and read the same way by each of them (`bench/run.ts`,
 * `bench/zipf.ts`, `bench/soak.ts`): the built subgraph with `npm start`'s Node flags, its CPU and RSS
 * from /proc, and sums of its counters from /metrics.
 */
import { type ChildProcess, execSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * The commit the figures are of: HEAD's short hash, with `+` when `src/` or `bench/` differ from it (the
 * figures are then of code that is not committed). The benchmarks' own results, which an earlier benchmark
 * of the same `npm run bench` has just written, do not count.
 */
export function measuredCommit(): string {
  // Another build (BENCH_SUBGRAPH): the commit of the checkout it was built in, which is what was measured.
  const cwd = process.env.BENCH_SUBGRAPH === undefined ? root : dirname(resolve(root, process.env.BENCH_SUBGRAPH));
  const commit = execSync('git rev-parse --short HEAD', { cwd, encoding: 'utf8' }).trim();
  const changed = execSync("git status --porcelain -- src bench ':!bench/results'", { cwd, encoding: 'utf8' }).trim();
  return changed === '' ? commit : `${commit}+`;
}

/** The subgraph the benchmarks start: this checkout's build, or another (BENCH_SUBGRAPH=/elsewhere/dist/src/main.js). */
export const subgraphMain = process.env.BENCH_SUBGRAPH ?? 'dist/src/main.js';

/** Builds this checkout's subgraph, unless the benchmark measures another build (BENCH_SUBGRAPH), built where it is. */
export function buildSubgraph(): void {
  if (process.env.BENCH_SUBGRAPH === undefined) execSync('npm run build --silent', { cwd: root, stdio: 'inherit' });
}

/** Node's flags as `npm start` gives them (package.json), unless BENCH_NODE_FLAGS='--a --b' says otherwise. */
export function nodeFlags(): string[] {
  if (process.env.BENCH_NODE_FLAGS !== undefined) return process.env.BENCH_NODE_FLAGS.split(' ').filter(Boolean);
  const start = (JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: { start: string } }).scripts.start;
  return start.split(' ').filter((word) => word.startsWith('--'));
}

/** The subgraph's own variables given to a benchmark (BENCH_SUBGRAPH_ENV='GRAPHQL_EXECUTOR=graphql-js,…'), to compare settings. */
export function passThrough(): Record<string, string> {
  const pairs = (process.env.BENCH_SUBGRAPH_ENV ?? '').split(',').filter((pair) => pair.includes('='));
  return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
}

export interface Subgraph {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** The GraphQL endpoint's path (`/graphql`). */
  path: string;
}

/**
 * Starts a subgraph (`script`: `subgraphMain` unless told otherwise; `args` go before it)
 * with only `env` and PATH, and resolves once its `users-subgraph ready` line says where it listens.
 * Its log after that is read and dropped, except warnings and worse, shown next to the figures they
 * explain (Redis lost, say), and except what `onOutput` is given: all of it, as it comes (V8's GC trace,
 * say, which goes to stdout too).
 */
export function startSubgraph(
  env: Record<string, string>,
  options: { args?: string[]; script?: string; onOutput?: (chunk: string) => void } = {},
): Promise<Subgraph> {
  const script = options.script ?? subgraphMain;
  const child = spawn(process.execPath, [...(options.args ?? nodeFlags()), script], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: string) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.includes('users-subgraph ready'));
      if (line === undefined) return;
      const endpoint = new URL(JSON.parse(line).endpoint as string);
      child.stdout!.off('data', onData).on('data', (more: string) => {
        options.onOutput?.(more);
        for (const l of more.split('\n')) if (/"level":(4|5|6)\d/.test(l)) process.stderr.write(`${l}\n`);
      });
      resolve({ child, origin: endpoint.origin, path: endpoint.pathname });
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.on('exit', (code) => reject(new Error(`subgraph (${script}) exited ${code}:\n${out}`)));
  });
}

/** SIGTERM, resolved once the process has exited. */
export function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** CPU time of every thread of a process, in ms (schedstat: nanoseconds; stat's ticks as a fallback). */
export function cpuMs(pid: number): number {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  if (ns > 0) return ns / 1e6;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

export function rssMiB(pid: number): number {
  const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** The sum of a counter's series on a subgraph's /metrics, of those whose labels pass `labels` (all by default). */
export async function counterSum(origin: string, name: string, labels: (text: string) => boolean = () => true): Promise<number> {
  const text = await (await fetch(`${origin}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} ([\\d.e+]+)$`, 'gm'))) if (labels(m[1]!)) sum += Number(m[2]);
  return sum;
}
