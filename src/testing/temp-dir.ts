import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Temp dirs of test servers and certificates (`redis-topologies.ts`, `redis-tls.ts`): each made fresh under the
 * OS's temp dir, named for what it holds and the worker, and removed by `removeTempDir`, or, failing that, when
 * the worker exits: a test that dies without cleaning up leaves nothing behind.
 */
const liveDirs = new Set<string>();
let exitHookInstalled = false;

/** A fresh `users-subgraph-<kind>-<pid>-…` dir. */
export async function makeTempDir(kind: string): Promise<string> {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
    });
  }
  const dir = await mkdtemp(join(tmpdir(), `users-subgraph-${kind}-${process.pid}-`));
  liveDirs.add(dir);
  return dir;
}

/** Removes `dir` and all it holds; safe to call twice. */
export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}
