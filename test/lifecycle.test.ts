import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The process as `npm start` runs it (from source here, through tsx): the demo when nothing is
 * configured, refusal of bad configuration naming the variable, graceful shutdown on SIGTERM.
 */
const root = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  child: ChildProcess;
  lines: string[];
  exited: Promise<{ code: number | null; stderr: string }>;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

function run(env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    lines.push(...chunk.split('\n').filter(Boolean));
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
  return {
    child,
    lines,
    exited,
    async waitFor(pattern, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = lines.find((l) => pattern.test(l));
        if (line) return line;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no line matching ${pattern}; got:\n${lines.join('\n')}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
    },
  };
}

describe('npm start', () => {
  it('with nothing configured runs the demo of all four providers, serves it, and stops cleanly on SIGTERM', async () => {
    const p = run({ PORT: '0', HOST: '127.0.0.1' });
    try {
      expect(await p.waitFor(/DEMO MODE/)).toContain('ids 1-10000');
      const ready = JSON.parse(await p.waitFor(/users-subgraph ready/));
      const res = await fetch(ready.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query: `{
            xUsers(ids: ["42", "10001"]) { id username }
            telegramUsers(ids: ["42"], usernames: ["tg_user7"]) { id username }
            bitrix24Users(ids: ["42"]) { id portal name }
            nexudusUsers(ids: ["42"]) { id fullName isAdmin }
          }`,
        }),
      });
      const body = (await res.json()) as any;
      expect(body.data.xUsers).toEqual([{ id: '42', username: 'user42' }, null]);
      expect(body.data.telegramUsers).toEqual([
        { id: '42', username: 'tg_user42' },
        { id: '7', username: 'tg_user7' },
      ]);
      expect(body.data.bitrix24Users).toEqual([{ id: '42', portal: 'demo.bitrix24.local', name: 'Demo User 42' }]);
      expect(body.data.nexudusUsers).toEqual([{ id: '42', fullName: 'Demo User 42', isAdmin: false }]);
      expect(body.errors.map((e: any) => [e.path.join('.'), e.extensions.code])).toEqual([['xUsers.1', 'NOT_FOUND']]);
    } finally {
      p.child.kill('SIGTERM');
      // A shutdown that hangs must fail this test, not leave a process behind.
      setTimeout(() => p.child.kill('SIGKILL'), 8_000).unref();
    }
    const { code } = await p.exited;
    expect(code).toBe(0);
    expect(p.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  });

  it('a fresh demo answers 120 ids of every provider with the fewest calls: X 2, Telegram 2, Bitrix24 1, Nexudus 3, no 409', async () => {
    const p = run({ PORT: '0', HOST: '127.0.0.1' });
    try {
      const ready = JSON.parse(await p.waitFor(/users-subgraph ready/));
      const ids = Array.from({ length: 120 }, (_, i) => String(i + 1));
      const res = await fetch(ready.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query: `query ($ids: [ID!]!) {
            xUsers(ids: $ids) { id username description publicMetrics { followersCount } pinnedTweet { text } }
            telegramUsers(ids: $ids) { id username status { presence } }
            bitrix24Users(ids: $ids) { id name avatarHr }
            nexudusUsers(ids: $ids) { id fullName email }
          }`,
          variables: { ids },
        }),
      });
      const body = (await res.json()) as any;
      expect(body.errors).toBeUndefined();
      for (const field of ['xUsers', 'telegramUsers', 'bitrix24Users', 'nexudusUsers']) expect(body.data[field]).toHaveLength(120);

      const metrics = await (await fetch(ready.endpoint.replace(/\/graphql$/, '/metrics'))).text();
      const sent = new Map<string, number>();
      const statuses = new Set<string>();
      for (const [, provider, status, count] of metrics.matchAll(
        /^users_subgraph_upstream_requests_total\{provider="(\w+)",method="[^"]*",status="(\w+)"\} (\d+)$/gm,
      )) {
        sent.set(provider!, (sent.get(provider!) ?? 0) + Number(count));
        statuses.add(status!);
      }
      // Nexudus: the token, then two list calls (100 + 20 ids), paced so that none is refused.
      expect(Object.fromEntries(sent)).toEqual({ x: 2, telegram: 2, bitrix24: 1, nexudus: 3 });
      expect([...statuses]).toEqual(['200']);
    } finally {
      p.child.kill('SIGTERM');
      setTimeout(() => p.child.kill('SIGKILL'), 8_000).unref();
    }
    expect((await p.exited).code).toBe(0);
  });

  it('refuses bad configuration, naming the variable and never echoing a secret', async () => {
    const secret = 'bad token with spaces';
    const p = run({ PORT: 'eighty', X_BEARER_TOKEN: secret, X_API_BASE_URL: 'not a url' });
    const { code, stderr } = await p.exited;
    expect(code).toBe(78);
    expect(stderr).toContain('PORT');
    expect(stderr).toContain('X_BEARER_TOKEN');
    expect(stderr).toContain('X_API_BASE_URL');
    expect(stderr).not.toContain(secret);
  });
});
