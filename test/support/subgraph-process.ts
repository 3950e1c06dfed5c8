import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * The subgraph as a process of its own, as `npm start` runs it but from source (`node --import tsx
 * src/main.ts`), configured only through its environment: what a replica is. Its JSON log lines are
 * kept; its URL is read from the `users-subgraph ready` line.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));

export interface SubgraphProcess {
  child: ChildProcess;
  /** stdout lines (pino JSON), in order. */
  lines: string[];
  /** stdout and stderr as received: what a test checks for secrets. */
  output(): string;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** POSTs an operation to /graphql. */
  gql(query: string, variables?: Record<string, unknown>): Promise<{ status: number; body: any }>;
  /** GET /metrics as text. */
  metrics(): Promise<string>;
  /** SIGTERM, SIGKILL if it has not exited after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export async function startSubgraphProcess(env: Record<string, string>, readyTimeoutMs = 30_000): Promise<SubgraphProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    // The budget planner holds nothing unless the test says otherwise (as in harness.ts): the X emulator's
    // window is X's real 300 calls per 15 minutes, under which a test's partial batches would each wait.
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      PORT: '0',
      HOST: '127.0.0.1',
      UPSTREAM_MAX_HOLD_MS: '0',
      MAX_EVENT_LOOP_DELAY_MS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let out = '';
  let partial = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (graceMs = 5_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const hard = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(hard);
  };
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`subgraph not ready after ${readyTimeoutMs} ms:\n${out}`)), readyTimeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        if (line === '') continue;
        lines.push(line);
        if (line.includes('"users-subgraph ready"')) {
          clearTimeout(timer);
          resolve((JSON.parse(line).endpoint as string).replace(/\/graphql$/, ''));
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`subgraph exited (${code ?? signal}) before it was ready:\n${out}`));
    });
  }).catch(async (error: unknown) => {
    await stop(0);
    throw error;
  });
  return {
    child,
    lines,
    output: () => out,
    url,
    async gql(query, variables) {
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, body: await res.json() };
    },
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    stop,
  };
}
