import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { X_TEST_TOKEN } from '../src/providers/x/emulator/index.js';
import { startXEmulator, type XEmulator } from '../src/providers/x/emulator/server.js';

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

/** Resolves once `condition` holds, checking as the event loop turns (a test timeout ends a wait that never does). */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 10));
}

function run(env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    // As `npm start` on a fresh clone: NODE_ENV unset, unless a test sets it as a deployment does.
    env: { PATH: process.env.PATH ?? '', ...env },
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

  describe('SIGTERM drains', () => {
    let upstream: XEmulator | undefined;
    afterEach(async () => {
      await upstream?.close();
      upstream = undefined;
    });

    /** The subgraph in front of an X that answers after `latencyMs`; nothing else configured. */
    async function slowX(latencyMs: number, env: Record<string, string> = {}) {
      upstream = await startXEmulator({ bearerToken: X_TEST_TOKEN, latencyMs });
      const p = run({ PORT: '0', HOST: '127.0.0.1', X_BEARER_TOKEN: X_TEST_TOKEN, X_API_BASE_URL: upstream.url, ...env });
      const { endpoint } = JSON.parse(await p.waitFor(/users-subgraph ready/)) as { endpoint: string };
      return { p, endpoint, base: endpoint.replace(/\/graphql$/, '') };
    }

    const post = (endpoint: string, query: string) =>
      fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });

    it('/ready turns 503 while a request in flight finishes; health checks are answered; new GraphQL requests are turned away; exit 0', async () => {
      const { p, endpoint, base } = await slowX(1_500);
      const slow = post(endpoint, '{ xUsers(ids: ["5"]) { id username } }');
      await until(() => (upstream?.requests.length ?? 0) === 1);
      p.child.kill('SIGTERM');
      await until(async () => (await fetch(`${base}/ready`)).status === 503);
      expect(await (await fetch(`${base}/ready`)).json()).toMatchObject({ status: 'shutting down' });
      expect((await fetch(`${base}/health`)).status).toBe(200);
      const turnedAway = await post(endpoint, '{ xUsers(ids: ["6"]) { id } }');
      expect(turnedAway.status).toBe(503);
      expect(((await turnedAway.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe(
        'SHUTTING_DOWN',
      );
      const answer = (await (await slow).json()) as { data: unknown };
      expect(answer.data).toEqual({ xUsers: [{ id: '5', username: 'user5' }] });
      expect((await p.exited).code).toBe(0);
      expect(p.lines.some((line) => line.includes('"msg":"stopped"'))).toBe(true);
    });

    it('idle keep-alive connections do not hold a shutdown: it ends with nothing in flight, long before its grace period', async () => {
      // A grace of a minute: were idle sockets waited for, the process would outlive this test's timeout.
      const { p, endpoint } = await slowX(0, { SHUTDOWN_GRACE_MS: '60000' });
      for (let i = 0; i < 3; i++) expect((await post(endpoint, '{ xUsers(ids: ["1"]) { id } }')).status).toBe(200);
      p.child.kill('SIGTERM');
      expect((await p.exited).code).toBe(0);
    });

    it('what is still in flight after SHUTDOWN_GRACE_MS is cancelled upstream and answered; exit 1', async () => {
      const { p, endpoint } = await slowX(10_000, {
        SHUTDOWN_GRACE_MS: '200',
        UPSTREAM_TIMEOUT_MS: '30000',
        OPERATION_TIMEOUT_MS: '60000',
      });
      const slow = post(endpoint, '{ xUsers(ids: ["5"]) { id } }');
      await until(() => (upstream?.requests.length ?? 0) === 1);
      p.child.kill('SIGTERM');
      const answer = (await (await slow).json()) as {
        data: unknown;
        errors: Array<{ message: string; extensions: Record<string, unknown> }>;
      };
      expect(answer.data).toEqual({ xUsers: [null] });
      expect(answer.errors[0]!.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', provider: 'x' });
      expect(answer.errors[0]!.message).toBe('X: the subgraph is shutting down');
      expect((await p.exited).code).toBe(1);
      expect(p.lines.some((line) => line.includes('stopped after cancelling requests still in flight'))).toBe(true);
    });
  });

  describe('fails closed in production (NODE_ENV=production, as the container image sets it)', () => {
    const production = { PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'production' };
    it.each([
      ['nothing configured', {}, /no provider is configured: set the credentials of at least one .*DEMO=1/],
      ['an empty X_BEARER_TOKEN', { X_BEARER_TOKEN: '' }, /X_BEARER_TOKEN: is set but empty/],
      ['a blank X_BEARER_TOKEN', { X_BEARER_TOKEN: '  ' }, /X_BEARER_TOKEN: is set but empty/],
      ['DEMO=0', { DEMO: '0', X_BEARER_TOKEN: 'x-token-that-is-set' }, /DEMO: must be 1 \(serve the built-in emulators\) or unset/],
      [
        'a typo, X_BEARER_TOKN',
        { X_BEARER_TOKN: 'typed-secret-value' },
        /X_BEARER_TOKN is not a variable of this service \(did you mean X_BEARER_TOKEN\?\)/,
      ],
    ])('%s: exit 78, naming the variable, never its value, and no demo', async (_, env, message) => {
      const p = run({ ...production, ...env });
      const { code, stderr } = await p.exited;
      expect(code).toBe(78);
      expect(stderr).toMatch(message);
      expect(stderr).not.toContain('typed-secret-value');
      expect(stderr).not.toContain('x-token-that-is-set');
      expect(p.lines.join('\n')).not.toMatch(/DEMO MODE|ready/);
    });

    it('DEMO=1 runs the demo on purpose: a warn line, /ready and the users_subgraph_demo metric say so', async () => {
      const p = run({ ...production, DEMO: '1', X_BEARER_TOKN: 'typed-secret-value' });
      try {
        const typo = JSON.parse(await p.waitFor(/X_BEARER_TOKN is not a variable/)) as { level: number; msg: string };
        expect(typo.level).toBe(40);
        const demo = JSON.parse(await p.waitFor(/DEMO MODE/)) as { level: number };
        expect(demo.level).toBe(40); // warn
        const { endpoint } = JSON.parse(await p.waitFor(/users-subgraph ready/)) as { endpoint: string };
        const base = endpoint.replace(/\/graphql$/, '');
        expect(await (await fetch(`${base}/ready`)).json()).toMatchObject({ status: 'ready', demo: true });
        expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^users_subgraph_demo 1$/m);
        expect(p.lines.join('\n')).not.toContain('typed-secret-value');
      } finally {
        p.child.kill('SIGTERM');
        await p.exited;
      }
    });
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
