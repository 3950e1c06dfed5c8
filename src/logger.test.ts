import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createLogger } from './logger.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('createLogger', () => {
  it('writes JSON lines naming the service, secrets redacted, to the descriptor it is given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'logger-'));
    try {
      const file = join(dir, 'log');
      const logger = createLogger('info', openSync(file, 'w'));
      logger.info({ token: 'secret-value' }, 'one line');
      const [line] = readFileSync(file, 'utf8').split('\n');
      expect(JSON.parse(line!)).toMatchObject({ msg: 'one line', token: '[redacted]', service: 'users-subgraph' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a process whose log reader went away (EPIPE) still exits: lines into the broken pipe are dropped, not retried', async () => {
    // The child waits for a byte on stdin, by when its stdout has no reader, logs, and exits at once: the exit
    // is where a buffered logger flushes, and sonic-boom's flush retried EPIPE forever.
    const script = [
      "import { createLogger } from './src/logger.ts';",
      'process.stdin.once("data", () => {',
      '  const logger = createLogger("info");',
      '  for (let i = 0; i < 3; i++) logger.info({ i }, "into a broken pipe");',
      '  process.exit(0);',
      '});',
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Also when the test times out (the failure this guards against is a process that never exits).
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    child.stdout.destroy();
    child.stdin.write('go');
    expect(await exited).toBe(0);
  });
});
