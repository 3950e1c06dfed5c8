/**
 * The benchmarks' upstream emulators as a process of their own (`bench/upstreams.ts`), so that their CPU
 * and the subgraph's are read apart: started, asked for the variables that point a subgraph at them, and
 * asked to record the requests one operation makes (`capture`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { root } from './processes.js';
import type { CapturedRequest, UpstreamMessage } from './upstreams.js';

export interface Upstreams {
  child: ChildProcess;
  /** The variables that point a subgraph at the emulators (X_API_BASE_URL, X_BEARER_TOKEN, …). */
  env: Record<string, string>;
  /** The upstream requests received while `during` runs. */
  capture(during: () => Promise<void>): Promise<CapturedRequest[]>;
}

/** `emulatorMode`: `honest` (X's bodies built per request) or `memoized` (replayed). */
export function startUpstreams(emulatorMode: 'honest' | 'memoized' = 'honest'): Promise<Upstreams> {
  // `node --import tsx`, not the tsx CLI: the pid read must be the process that answers.
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/upstreams.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      BENCH_EMULATOR: emulatorMode,
      BENCH_WARM_UPSTREAM_LATENCY_MS: process.env.BENCH_WARM_UPSTREAM_LATENCY_MS ?? '50',
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // The next message; both listeners go once it comes (one capture per scenario would pile them up).
  const next = () =>
    new Promise<UpstreamMessage>((resolve, reject) => {
      const exited = (code: number | null) => reject(new Error(`upstream emulators exited ${code}`));
      child.once('exit', exited).once('message', (message) => {
        child.off('exit', exited);
        resolve(message as UpstreamMessage);
      });
    });
  return next().then((message) => {
    if (!('env' in message)) throw new Error('upstream emulators: expected their variables first');
    return {
      child,
      env: message.env,
      async capture(during) {
        child.send({ capture: true });
        await during();
        const reply = next();
        child.send({ capture: false });
        const answer = await reply;
        return 'captured' in answer ? answer.captured : [];
      },
    };
  });
}
