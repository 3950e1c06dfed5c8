import { parse, visit } from 'graphql';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { Runtime } from '../src/core/lookup.js';
import { READY_BUDGETS_WAIT_MS } from '../src/http/routes.js';
import { type RunningServer, startServer } from '../src/http/server.js';
import { providers } from '../src/providers/registry.js';
import { type Harness, startHarness } from './support/harness.js';
import { xCalls } from './support/x.js';

/** The HTTP surface (docs/operations.md, "HTTP endpoints"): endpoints, GraphQL over POST and GET, CSRF prevention, limits. */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { MAX_REQUEST_BYTES: '4096' } });
});
afterAll(() => h.close());

describe('endpoints', () => {
  it('/health and /ready answer 200', async () => {
    expect((await fetch(`${h.url}/health`)).status).toBe(200);
    const ready = await fetch(`${h.url}/ready`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { status: string; circuits: unknown[] };
    expect(body.status).toBe('ready');
    // Every upstream scope's circuit, closed while its upstream answers.
    expect(body.circuits).toEqual(
      expect.arrayContaining([
        { provider: 'x', scope: '', state: 'closed' },
        { provider: 'bitrix24', scope: 'portal-a', state: 'closed' },
      ]),
    );
  });

  it("/ready and /metrics show X's window as the budget planner knows it, from X's own headers", async () => {
    await h.gql('{ xUsers(ids: ["1"]) { id } }');
    const { budgets } = (await (await fetch(`${h.url}/ready`)).json()) as {
      budgets: Array<{ provider: string; label: string; limit: number; remaining: number; resetInMs: number }>;
    };
    const users = budgets.find((budget) => budget.provider === 'x' && budget.label === 'GET /2/users');
    const seen = h.emulator('x').requests.filter((request) => request.path === '/2/users').length;
    expect(users).toMatchObject({ limit: 300, remaining: 300 - seen });
    expect(users!.resetInMs).toBeGreaterThan(0);
    expect(users!.resetInMs).toBeLessThanOrEqual(900_000);
    const text = await (await fetch(`${h.url}/metrics`)).text();
    expect(text).toContain(`users_subgraph_upstream_budget_remaining{provider="x",method="GET /2/users"} ${300 - seen}`);
    for (const name of ['upstream_batch_fill_ratio', 'upstream_hold_seconds', 'upstream_budget_refusals_total']) {
      expect(text).toContain(`# TYPE users_subgraph_${name}`);
    }
  });

  it('/metrics is Prometheus text with the contract metrics', async () => {
    await h.gql('{ xUsers(ids: ["1"]) { id } }');
    const res = await fetch(`${h.url}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('# TYPE users_subgraph_upstream_requests_total counter');
    expect(text).toContain('# TYPE users_subgraph_upstream_batch_size histogram');
    expect(text).toMatch(/users_subgraph_upstream_requests_total\{provider="x",method="GET \/2\/users",status="200"\} \d+/);
    // Every provider of the registry has its series, whether it was called yet or not.
    for (const provider of providers) expect(text).toContain(`users_subgraph_upstream_batch_size_count{provider="${provider.id.name}"}`);
  });

  it('an unknown path is 404', async () => {
    expect((await fetch(`${h.url}/nope`)).status).toBe(404);
  });
});

describe('GraphQL over HTTP', () => {
  it('GET queries work when the request is not a simple (CSRF-able) one', async () => {
    const query = encodeURIComponent('{ xUsers(ids: ["5"]) { username } }');
    const res = await fetch(`${h.url}/graphql?query=${query}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { xUsers: [{ username: 'user5' }] } });
  });

  it('CSRF prevention refuses a simple GET and a text/plain POST, sending nothing upstream', async () => {
    h.reset();
    const query = encodeURIComponent('{ xUsers(ids: ["5"]) { username } }');
    expect((await fetch(`${h.url}/graphql?query=${query}`)).status).toBe(400);
    const post = await fetch(`${h.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ query: '{ xUsers(ids: ["5"]) { id } }' }),
    });
    expect(post.status).toBe(400);
    expect(xCalls(h)).toHaveLength(0);
  });

  it('an answer goes out whole: its content-length is its byte length, not its length in characters', async () => {
    // The refused id is echoed in the answer: two characters beyond Latin-1, five more bytes than characters.
    const res = await fetch(`${h.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ xUsers(ids: ["é🙂"]) { id } }' }),
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
    expect(bytes.length).toBeGreaterThan(bytes.toString('utf8').length);
    expect(JSON.parse(bytes.toString('utf8')).errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', id: 'é🙂' });
  });

  it('malformed JSON is a 400, an oversize body a 413', async () => {
    const bad = await fetch(`${h.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":' });
    expect(bad.status).toBe(400);
    const big = await fetch(`${h.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ xUsers(ids: [${'"1",'.repeat(2000)}"1"]) { id } }` }),
    });
    expect(big.status).toBe(413);
  });

  it('a syntax error and an unknown field are GraphQL errors with their codes', async () => {
    const syntax = await h.gql('{ xUsers(ids: ["1"]) { id ');
    expect(syntax.status).toBe(400);
    expect(syntax.body.errors![0]!.extensions!.code).toBe('GRAPHQL_PARSE_FAILED');
    const unknown = await h.gql('{ xUsers(ids: ["1"]) { nope } }');
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors![0]!.extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('introspection is on for explorers, and the browser landing page is served', async () => {
    const { body } = await h.gql('{ __type(name: "XUser") { fields { name } } }');
    expect(body.data.__type.fields.map((f: any) => f.name)).toContain('pinnedTweet');
    const page = await fetch(`${h.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
  });

  it('the subgraph SDL is served to composition tools via _service', async () => {
    const { body } = await h.gql('{ _service { sdl } }');
    const sdl: string = body.data._service.sdl;
    expect(sdl).toContain('type XUser implements ExternalUser');
    expect(sdl).toContain('@key(fields: "id")');
    // AUTH_DIRECTIVES_IN_SDL unset: what rover subgraph introspect takes composes anywhere, and parses as it is.
    const used = new Set<string>();
    visit(parse(sdl), {
      Directive: (node) => void used.add(node.name.value),
      DirectiveDefinition: (node) => void used.add(node.name.value),
    });
    expect(used).toContain('key');
    expect([...used].filter((name) => /authenticated|requiresScopes/i.test(name))).toEqual([]);
    expect(sdl).toContain('import: ["@key", "@shareable"])');
  });
});

describe('a provider without credentials', () => {
  let server: RunningServer;
  beforeAll(async () => {
    const config = { ...loadConfig(providers, { PORT: '0', HOST: '127.0.0.1' }), demo: false };
    server = await startServer(config, new Runtime(), pino({ level: 'silent' }));
  });
  afterAll(() => server.close());

  it('answers PROVIDER_NOT_CONFIGURED at each index, never a crash', async () => {
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ xUsers(ids: ["1", "2"]) { id } }' }),
    });
    const body = (await res.json()) as any;
    expect(res.status).toBe(200);
    expect(body.data).toEqual({ xUsers: [null, null] });
    expect(body.errors.map((e: any) => [e.path.join('.'), e.extensions.code])).toEqual([
      ['xUsers.0', 'PROVIDER_NOT_CONFIGURED'],
      ['xUsers.1', 'PROVIDER_NOT_CONFIGURED'],
    ]);
  });
});

describe('/ready while the budgets cannot be read (Redis failing over)', () => {
  let server: RunningServer;
  const reading = { provider: 'x', label: 'GET /2/users', limit: 300, remaining: 120, resetInMs: 60_000 };
  let answer: () => Promise<Array<typeof reading>> = async () => [reading];
  beforeAll(async () => {
    const config = { ...loadConfig(providers, { PORT: '0', HOST: '127.0.0.1' }), demo: false };
    server = await startServer(config, new Runtime(), pino({ level: 'silent' }), { budgets: () => answer() });
  });
  afterAll(() => server.close());

  it('answers at once with the last reading instead of waiting on a reading that does not come', async () => {
    const ready = async () => (await (await fetch(`${server.url}/ready`)).json()) as { status: string; budgets: unknown };
    expect(await ready()).toMatchObject({ status: 'ready', budgets: [reading] });
    // A reading that never comes (a Cluster client waiting out a failover): the last one, within the wait.
    answer = () => new Promise(() => {});
    const started = performance.now();
    expect(await ready()).toMatchObject({ status: 'ready', budgets: [reading] });
    // Bounded by the wait, not by the reading: never resolved, it would have hung the probe.
    expect(performance.now() - started).toBeGreaterThanOrEqual(READY_BUDGETS_WAIT_MS - 5);
  });
});
