import { existsSync } from 'node:fs';
import pino from 'pino';
import { type Browser, type BrowserContext, chromium, type Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { Runtime } from '../src/core/lookup.js';
import { EXAMPLE_OPERATION, prefersHtml } from '../src/explorer/index.js';
import { type RunningServer, startServer } from '../src/http/server.js';
import { providers } from '../src/providers/registry.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * The explorer (docs/operations.md, "Explorer"): GraphiQL served with its whole bundle inlined, driven in Debian's
 * headless Chromium with every request that is not to loopback refused, so it must work offline; and
 * which page a browser gets, or none, under each EXPLORER setting and the production defaults.
 */

const CHROMIUM = '/usr/bin/chromium';
/** What a browser sends when it navigates to a page. */
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

const haveChromium = existsSync(CHROMIUM);
const skipBrowser = !haveChromium && !process.env.CI;
if (skipBrowser) {
  console.warn(
    `test/explorer.test.ts: the browser test is skipped: ${CHROMIUM} is absent (apt-get install chromium; .ci/run installs it, and with CI set the test runs and fails without it)`,
  );
}

const isLoopback = (url: URL) => ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
/** What an element shows; Monaco renders spaces as no-break spaces. */
const shownIn = async (locator: Locator) => ((await locator.textContent()) ?? '').replaceAll('\u00a0', ' ');

describe.skipIf(skipBrowser)('GraphiQL in a browser with no network beyond the server', () => {
  let h: Harness;
  let browser: Browser;
  let context: BrowserContext;
  /** Every request the page made that was refused because it was not to loopback. */
  const blocked: string[] = [];

  beforeAll(async () => {
    h = await startHarness();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Root in CI containers has no user namespace for Chromium's sandbox. Anything not to loopback also
      // goes to a proxy where nothing listens: no request of the browser's own leaves the machine either.
      args: ['--no-sandbox', '--proxy-server=http://127.0.0.1:9', '--proxy-bypass-list=127.0.0.1;localhost'],
    });
    context = await browser.newContext({ serviceWorkers: 'block' });
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.protocol === 'data:' || url.protocol === 'blob:' || isLoopback(url)) return route.continue();
      blocked.push(url.href);
      return route.abort('internetdisconnected');
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await h?.close();
  });

  it('renders offline with the example operation, runs an operation typed in, and shows the users it found', async () => {
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    /** The GraphQL requests GraphiQL made, with their statuses. */
    const graphql: Array<{ body: string; status: number }> = [];
    page.on('response', (response) => {
      const request = response.request();
      if (request.method() === 'POST' && new URL(request.url()).pathname === '/graphql')
        graphql.push({ body: request.postData() ?? '', status: response.status() });
    });

    const response = await page.goto(`${h.url}/graphql`, { waitUntil: 'load', timeout: 30_000 });
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-type']).toBe('text/html; charset=utf-8');

    // The editor is up with the example operation pre-filled, its tab named after it.
    const editor = page.locator('.graphiql-query-editor');
    const tab = page.locator('.graphiql-tab-active');
    await expect.poll(() => shownIn(editor), { timeout: 30_000 }).toContain('query SeveralProviders {');
    await expect.poll(() => tab.textContent(), { timeout: 10_000 }).toContain('SeveralProviders');
    // The schema came from the server: GraphiQL's introspection was answered (CSRF prevention let its JSON POST through).
    await expect.poll(() => graphql.some((r) => r.body.includes('__schema') && r.status === 200), { timeout: 30_000 }).toBe(true);

    // An operation of our own, set in the editor the way a paste would (Monaco would close brackets typed one by one).
    const operation =
      'query TypedIn { xUsers(ids: ["3", "4"]) { name } telegramUsers(ids: ["5"]) { displayName } nexudusUsers(ids: ["6"]) { fullName } }';
    const expected = await h.gql(operation);
    const names = [
      ...expected.body.data.xUsers.map((u: { name: string }) => u.name),
      expected.body.data.telegramUsers[0].displayName,
      expected.body.data.nexudusUsers[0].fullName,
    ] as string[];
    expect(names).toHaveLength(4);
    for (const name of names) expect(name).toMatch(/\S/);

    await editor.locator('.monaco-editor').first().click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(operation);
    // GraphiQL parses the editor after a debounce; the tab takes the new operation's name once it has.
    await expect.poll(() => tab.textContent(), { timeout: 10_000 }).toContain('TypedIn');
    await page.locator('.graphiql-execute-button').first().click();

    const result = page.locator('.graphiql-response');
    await expect.poll(() => shownIn(result), { timeout: 20_000 }).toContain(names[0]);
    const shown = await shownIn(result);
    for (const name of names) expect(shown).toContain(name);
    expect(shown).not.toContain('errors');
    expect(graphql.some((r) => r.body.includes('TypedIn') && r.status === 200)).toBe(true);

    // Nothing the page asked for was refused, and it threw nothing.
    expect(blocked).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 90_000);

  it('the network really is closed to it: a page elsewhere is refused', async () => {
    const page = await context.newPage();
    await expect(page.goto('https://cdn.example.com/graphiql.js', { timeout: 10_000 })).rejects.toThrow();
    expect(blocked).toContain('https://cdn.example.com/graphiql.js');
    await page.close();
  });
});

describe('which page a browser gets (EXPLORER)', () => {
  const servers: RunningServer[] = [];
  const start = async (env: Record<string, string>) => {
    // No provider client is started: nothing is looked up here.
    const server = await startServer(
      loadConfig(providers, { PORT: '0', HOST: '127.0.0.1', ...env }),
      new Runtime(),
      pino({ level: 'silent' }),
    );
    servers.push(server);
    return server;
  };
  afterAll(async () => {
    for (const server of servers) await server.close();
  });
  const browse = (server: RunningServer, path = '/graphql', headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, { headers: { accept: BROWSER_ACCEPT, ...headers } });
  const introspect = async (server: RunningServer) => {
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __schema { queryType { name } } }' }),
    });
    return res.status;
  };
  /** Credentials of a provider and NODE_ENV=production: not the demo, introspection off by default. */
  const PRODUCTION = { NODE_ENV: 'production', X_BEARER_TOKEN: 'x-token' };

  it('by default (the demo, development): GraphiQL at /graphql and /, gzipped, with the example operation and no CDN', async () => {
    const server = await start({});
    for (const path of ['/graphql', '/']) {
      const res = await browse(server, path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('content-encoding')).toBe('gzip'); // fetch decodes it
      expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'");
      const html = await res.text();
      expect(html).toContain('YogaGraphiQL.renderYogaGraphiQL');
      expect(html).toContain(JSON.stringify(EXAMPLE_OPERATION).slice(1, 60));
      // Nothing is loaded from elsewhere: no <script src>, no <link href> but the inlined favicon.
      expect(html).not.toMatch(/<script[^>]+src=/i);
      expect(html).not.toMatch(/<link[^>]+href="https?:/i);
      // A browser that has it gets a 304.
      const again = await browse(server, path, { 'if-none-match': res.headers.get('etag')! });
      expect(again.status).toBe(304);
    }
    expect(await introspect(server)).toBe(200);
  });

  it('a GraphQL client is never given the page: its GET and POST reach Apollo Server', async () => {
    const server = await start({});
    const get = await fetch(`${server.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: 'application/json', 'apollo-require-preflight': 'true' },
    });
    expect([get.status, await get.json()]).toEqual([200, { data: { __typename: 'Query' } }]);
    // A GET without the preflight header is still refused by CSRF prevention, page or no page.
    const simple = await fetch(`${server.url}/graphql?query=${encodeURIComponent('{ __typename }')}`);
    expect(simple.status).toBe(400);
  });

  it('EXPLORER=off: no page (404 JSON), GraphQL as before', async () => {
    const server = await start({ EXPLORER: 'off' });
    for (const path of ['/graphql', '/']) {
      const res = await browse(server, path);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toContain('application/json');
      expect(await res.json()).toEqual({ error: 'not found' });
    }
    expect(await introspect(server)).toBe(200); // introspection is its own switch
  });

  it('in production introspection is off, and so is the explorer, unless asked for', async () => {
    const server = await start(PRODUCTION);
    expect((await browse(server)).status).toBe(404);
    expect(await introspect(server)).toBe(400);

    // EXPLORER=graphiql serves the page; with introspection still off it runs operations but shows no schema.
    const asked = await start({ ...PRODUCTION, EXPLORER: 'graphiql' });
    expect((await browse(asked)).status).toBe(200);
    expect(await introspect(asked)).toBe(400);

    const both = await start({ ...PRODUCTION, EXPLORER: 'graphiql', INTROSPECTION: '1' });
    expect((await browse(both)).status).toBe(200);
    expect(await introspect(both)).toBe(200);
  });

  it('EXPLORER=sandbox: Apollo Sandbox, which loads from Apollo CDN', async () => {
    const server = await start({ EXPLORER: 'sandbox' });
    const res = await browse(server);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('embeddable-sandbox.cdn.apollographql.com');
    expect(html).not.toContain('YogaGraphiQL');
  });

  it('a bad EXPLORER stops the start naming the variable', () => {
    expect(() => loadConfig(providers, { EXPLORER: 'playground' })).toThrow(/EXPLORER/);
  });
});

describe('prefersHtml', () => {
  it.each([
    ['GET', BROWSER_ACCEPT, true],
    ['GET', 'text/html', true],
    ['POST', BROWSER_ACCEPT, false],
    ['GET', undefined, false],
    ['GET', '*/*', false],
    ['GET', 'application/json', false],
    ['GET', 'application/graphql-response+json, application/json;q=0.9', false],
    ['GET', 'application/json, text/html', false],
    ['GET', 'text/html, application/json', true],
    ['GET', 'application/json;q=0.5, text/html', true],
    ['GET', 'text/html;q=0', false],
    ['GET', 'multipart/mixed, text/html', false],
  ])('%s with Accept %s: %s', (method, accept, expected) => {
    expect(prefersHtml(method, accept)).toBe(expected);
  });
});
