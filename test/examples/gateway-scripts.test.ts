import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestIssuer, type TestIssuer } from '../../src/testing/jwks.js';
import { composeSupergraph } from '../support/gateways.js';
import { type Harness, startHarness } from '../support/harness.js';
import { type StartedSubgraph, startPostsSubgraph } from '../support/posts-subgraph.js';
import { typeErrors } from '../support/type-check.js';

/**
 * The gateway examples, run for real: `examples/apollo-gateway/gateway.ts` as its header says
 * (`node --import tsx`, composing with IntrospectAndCompose from the running subgraphs), and Hive Gateway's
 * own CLI (`hive-gateway supergraph`) with `examples/hive-gateway/gateway.config.ts` and a supergraph
 * composed from the running subgraphs' `_service { sdl }`, as rover would. Each process is started on a
 * free loopback port, queried, and stopped (SIGTERM, waited for).
 *
 * The users subgraph authenticates with a shared secret (granting no scope) and JWTs, so each case shows
 * what reached it: `defaultBusinessId` (@authenticated) is served only if the gateway sent the secret;
 * `email` (@requiresScopes users:personal) only if it forwarded the caller's JWT; the X emulator names the
 * principal whose token it got, which is the caller's only if `x-caller-x-token` was forwarded.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const SECRET = 'example-gateway-secret-0001';
const PORTAL = 'portal-a';
const ALICE_X_TOKEN = 'alice-example-x-token-0001';

const QUERY = /* GraphQL */ `
  {
    posts(count: 2) {
      id
      createdBy { id name }
      source
      author { id name }
      nexudusMember { id fullName defaultBusinessId email }
    }
  }
`;

let h: Harness;
let idp: TestIssuer;
let posts: StartedSubgraph;
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  idp = await startTestIssuer();
  h = await startHarness({
    env: { AUTH_SHARED_SECRET: SECRET, AUTH_JWKS_URL: idp.url, AUTH_JWT_ISSUER: idp.issuer, AUTH_JWT_AUDIENCE: idp.audience },
    emulators: { x: { userTokens: [{ name: 'alice', token: ALICE_X_TOKEN }] } },
  });
  posts = await startPostsSubgraph(PORTAL);
  dir = mkdtempSync(join(tmpdir(), 'gateway-examples-'));
});

afterEach(async () => {
  for (const child of children.splice(0)) await stop(child);
});

afterAll(async () => {
  await posts?.server.stop();
  await h?.close();
  await idp?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A port free on loopback now (the Hive CLI logs the port it was given, not the one it got for 0). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts `args` with node, and resolves with the first match of `ready` in its output (stdout and stderr). */
async function run(args: string[], env: Record<string, string>, ready: RegExp): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready after 30 s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const found = output.match(ready);
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before it was ready:\n${output}`));
    });
  });
  return { child, match };
}

/** SIGTERM, and waits for the exit (SIGKILL after 10 s): no process is left behind. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function query(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: QUERY }),
  });
  return { status: res.status, body: (await res.json()) as { data?: any; errors?: Array<{ path?: unknown[]; extensions?: any }> } };
}

/** What each gateway must have passed on, whichever it is. */
async function expectForwarding(url: string): Promise<void> {
  // The gateway's own secret: authenticated, no scope. The posts subgraph's own User and Provider beside the users'.
  h.reset();
  const anonymous = await query(url, { 'x-caller-x-token': ALICE_X_TOKEN });
  expect(anonymous.status).toBe(200);
  expect(anonymous.body.data.posts.map((p: any) => [p.createdBy, p.source, p.author])).toEqual([
    [{ id: 'staff-1', name: 'Staff Member 1' }, 'GITHUB', { id: '1', name: 'Demo User 1' }],
    [{ id: 'staff-2', name: 'Staff Member 2' }, 'GOOGLE', { id: '2', name: 'Demo User 2' }],
  ]);
  // @authenticated served: the secret arrived. @requiresScopes refused: the secret grants no scope. (Hive
  // Gateway 2.15 puts both errors at posts.0: it does not map an `_entities` error's index back to its post.)
  const errors = anonymous.body.errors ?? [];
  expect(errors).toHaveLength(2);
  for (const error of errors) {
    expect(error.path?.join('.')).toMatch(/^posts\.[01]\.nexudusMember\.email$/);
    expect(error.extensions).toMatchObject({ code: 'FORBIDDEN', field: 'NexudusUser.email' });
  }
  expect(anonymous.body.data.posts.map((p: any) => typeof p.nexudusMember.defaultBusinessId)).not.toContain('undefined');
  expect(anonymous.body.data.posts.map((p: any) => p.nexudusMember.email)).toEqual([null, null]);
  // The caller's own X token reached X through the users subgraph.
  expect(h.emulator('x').requests.map((r) => r.principal)).toEqual(['alice']);

  // The caller's JWT, forwarded in `authorization`, brings its scope.
  const token = await idp.sign({ scope: 'users:personal' });
  const personal = await query(url, { authorization: `Bearer ${token}` });
  expect(personal.status).toBe(200);
  expect(personal.body.errors).toBeUndefined();
  expect(personal.body.data.posts.map((p: any) => typeof p.nexudusMember.email)).toEqual(['string', 'string']);
}

describe('examples/apollo-gateway/gateway.ts', () => {
  it('runs as its header says, composes from the live subgraphs, forwards the secret, the JWT and the caller headers', async () => {
    const { match } = await run(
      ['--import', 'tsx', 'examples/apollo-gateway/gateway.ts'],
      {
        USERS_SUBGRAPH_URL: `${h.url}/graphql`,
        POSTS_SUBGRAPH_URL: posts.url,
        PORT: '0',
        HOST: '127.0.0.1',
        AUTH_SHARED_SECRET: SECRET,
      },
      /gateway ready at (http:\/\/\S+)/,
    );
    await expectForwarding(match[1]!);
  }, 60_000);

  it('without AUTH_SHARED_SECRET it sends none: the users subgraph sees an anonymous caller', async () => {
    const { match } = await run(
      ['--import', 'tsx', 'examples/apollo-gateway/gateway.ts'],
      { SUBGRAPHS: `users=${h.url}/graphql, posts=${posts.url}`, PORT: '0', HOST: '127.0.0.1' },
      /gateway ready at (http:\/\/\S+)/,
    );
    const { status, body } = await query(match[1]!);
    expect(status).toBe(200);
    expect(body.data.posts).toHaveLength(2);
    expect(new Set((body.errors ?? []).map((e) => [e.path?.slice(2).join('.'), e.extensions?.code].join(' ')))).toEqual(
      new Set(['nexudusMember.defaultBusinessId UNAUTHENTICATED', 'nexudusMember.email UNAUTHENTICATED']),
    );
  }, 60_000);

  it('stops on SIGTERM', async () => {
    const { child } = await run(
      ['--import', 'tsx', 'examples/apollo-gateway/gateway.ts'],
      { USERS_SUBGRAPH_URL: `${h.url}/graphql`, PORT: '0', HOST: '127.0.0.1' },
      /gateway ready at/,
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);
});

describe('examples/hive-gateway/gateway.config.ts', () => {
  it('hive-gateway supergraph, with this config and a supergraph composed from the live SDL, forwards the secret, the JWT and the caller headers', async () => {
    const supergraph = join(dir, 'supergraph.graphql');
    writeFileSync(supergraph, await composeSupergraph({ usersUrl: `${h.url}/graphql`, postsUrl: posts.url }));
    const port = await freePort();
    await run(
      [
        'node_modules/@graphql-hive/gateway/dist/bin.js',
        'supergraph',
        supergraph,
        '--config-path',
        'examples/hive-gateway/gateway.config.ts',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
      ],
      { AUTH_SHARED_SECRET: SECRET },
      /Listening on http:\/\/127\.0\.0\.1:\d+/,
    );
    await expectForwarding(`http://127.0.0.1:${port}/graphql`);
  }, 60_000);
});

describe('the gateway examples type-check', () => {
  it('against the pinned @apollo/gateway, @apollo/server and @graphql-hive/gateway', () => {
    const files = ['examples/apollo-gateway/gateway.ts', 'examples/hive-gateway/gateway.config.ts'].map((f) => join(root, f));
    const { errors } = typeErrors(files, { module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2023'], types: ['node'] });
    expect(errors).toBe('');
  }, 60_000);
});
