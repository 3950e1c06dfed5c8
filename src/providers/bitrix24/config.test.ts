import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config.js';
import type { ConfigIO, Env } from '../../core/types.js';
import { configIn, configureWith } from '../config.test-kit.js';
import { providers } from '../registry.js';
import { type Bitrix24Config, bitrix24Config } from './config.js';
import { bitrix24Provider } from './index.js';

const webhook = 'https://acme.bitrix24.com/rest/1/s3cr3tW3bh00k/';
const PORTALS_FILE = '/etc/portals.json';

/**
 * The file system as the configuration sees it: `files` by path, every read recorded; any other path
 * cannot be read. Nothing touches the real disk.
 */
function fakeIO(files: Record<string, string> = {}): ConfigIO & { read: string[] } {
  const read: string[] = [];
  return {
    read,
    exists: (path) => path in files,
    readFile: (path) => {
      read.push(path);
      const content = files[path];
      if (content === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
      return content;
    },
  };
}

/** A fake file system holding one BITRIX24_PORTALS_FILE with these portals. */
const portalsIO = (portals: unknown[]) => fakeIO({ [PORTALS_FILE]: JSON.stringify({ portals }) });

/** Bitrix24's own outcome: its config, or `undefined` when it is not configured; a ConfigError fails the test. */
function configure(env: Env, io: ConfigIO = fakeIO()): Bitrix24Config | undefined {
  const outcome = configureWith(bitrix24Config, env, io);
  if (outcome instanceof ConfigError) throw outcome;
  return outcome as Bitrix24Config | undefined;
}

/** The problems Bitrix24's schema finds in `env`. */
function refused(env: Env, io: ConfigIO = fakeIO()): ConfigError {
  const outcome = configureWith(bitrix24Config, env, io);
  expect(outcome).toBeInstanceOf(ConfigError);
  return outcome as ConfigError;
}

/** The problems the whole configuration finds in `env`, the core's included. */
function configError(env: Env, io: ConfigIO = fakeIO()): ConfigError {
  try {
    loadConfig(providers, env, io);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${Object.keys(env).join(', ')}`);
}

/** The variables a problem names: the text before the first colon of each problem line. */
const named = (error: ConfigError) => error.problems.map((p) => p.slice(0, p.indexOf(':')));

/** Every rendering of an error a log could hold. */
const renderings = (error: ConfigError) => [error.message, String(error.stack), JSON.stringify(error), ...error.problems];

describe('Bitrix24 configuration', () => {
  it('is not configured in an empty environment, or with empty settings; a credential set but empty is refused', () => {
    expect(configure({})).toBeUndefined();
    expect(configure({ BITRIX24_PORTAL_URL: '', BITRIX24_PORTALS_FILE: '', BITRIX24_RATE_PER_SECOND: '' })).toBeUndefined();
    expect(() => configure({ BITRIX24_WEBHOOK_URL: ' ' })).toThrow('BITRIX24_WEBHOOK_URL: is set but empty');
    const config = loadConfig(providers, {}, fakeIO());
    expect(configIn(config, bitrix24Provider, bitrix24Config, {}, fakeIO())).toBeUndefined();
  });

  it('one portal from BITRIX24_WEBHOOK_URL, named by its host, with the default limits; the demo is then off', () => {
    const expected: Bitrix24Config = {
      portals: [{ name: 'acme.bitrix24.com', access: { kind: 'webhook', webhookUrl: webhook }, rate: { perSecond: 2, burst: 50 } }],
      maxIdsPerCall: 50,
    };
    expect(configure({ BITRIX24_WEBHOOK_URL: webhook })).toEqual(expected);
    const config = loadConfig(providers, { BITRIX24_WEBHOOK_URL: webhook }, fakeIO());
    expect(config.demo).toBe(false);
    expect(config.configured.map((p) => p.provider)).toEqual([bitrix24Provider]);
    expect(configIn(config, bitrix24Provider, bitrix24Config, { BITRIX24_WEBHOOK_URL: webhook }, fakeIO())).toEqual(expected);
  });

  it('ends the webhook URL with a slash, and trims it', () => {
    const portal = configure({ BITRIX24_WEBHOOK_URL: `  ${webhook.slice(0, -1)}\n` })?.portals[0];
    expect(portal?.access).toEqual({ kind: 'webhook', webhookUrl: webhook });
  });

  it('BITRIX24_PORTAL_NAME names the single portal, of a webhook or of OAuth', () => {
    expect(configure({ BITRIX24_WEBHOOK_URL: webhook, BITRIX24_PORTAL_NAME: 'acme' })?.portals.map((p) => p.name)).toEqual(['acme']);
    expect(
      configure({
        BITRIX24_PORTAL_URL: 'https://globex.bitrix24.com',
        BITRIX24_ACCESS_TOKEN: 'acc',
        BITRIX24_PORTAL_NAME: '  globex ',
      })?.portals.map((p) => p.name),
    ).toEqual(['globex']);
  });

  it('an empty BITRIX24_PORTAL_NAME leaves the portal named by its host', () => {
    expect(configure({ BITRIX24_WEBHOOK_URL: webhook, BITRIX24_PORTAL_NAME: '' })?.portals[0]?.name).toBe('acme.bitrix24.com');
  });

  it('one portal through OAuth, renewable when the refresh triple is set', () => {
    const config = configure({
      BITRIX24_PORTAL_URL: 'https://globex.bitrix24.com',
      BITRIX24_ACCESS_TOKEN: 'acc',
      BITRIX24_REFRESH_TOKEN: 'ref',
      BITRIX24_CLIENT_ID: 'local.1',
      BITRIX24_CLIENT_SECRET: 'sec',
      BITRIX24_RATE_PER_SECOND: '5',
      BITRIX24_RATE_BURST: '250',
    });
    expect(config?.portals).toEqual([
      {
        name: 'globex.bitrix24.com',
        access: {
          kind: 'oauth',
          portalUrl: 'https://globex.bitrix24.com',
          accessToken: 'acc',
          refresh: { refreshToken: 'ref', clientId: 'local.1', clientSecret: 'sec', oauthUrl: 'https://oauth.bitrix.info' },
        },
        rate: { perSecond: 5, burst: 250 },
      },
    ]);
  });

  it('an OAuth portal is renewable with the whole refresh triple, not without it, refused with part of it, and reads BITRIX24_OAUTH_URL', () => {
    const oauth = { BITRIX24_PORTAL_URL: 'https://globex.bitrix24.com', BITRIX24_ACCESS_TOKEN: 'acc' };
    const accessOf = (env: Env) => configure({ ...oauth, ...env })?.portals[0]?.access;
    expect(accessOf({})).toEqual({ kind: 'oauth', portalUrl: 'https://globex.bitrix24.com', accessToken: 'acc', refresh: undefined });
    // Part of it (the secret forgotten): refused, rather than a portal that fails at its first expired token.
    expect(named(refused({ ...oauth, BITRIX24_REFRESH_TOKEN: 'ref', BITRIX24_CLIENT_ID: 'local.1' }))).toEqual(['BITRIX24_REFRESH_TOKEN']);
    expect(
      accessOf({
        BITRIX24_REFRESH_TOKEN: 'ref',
        BITRIX24_CLIENT_ID: 'local.1',
        BITRIX24_CLIENT_SECRET: 'sec',
        BITRIX24_OAUTH_URL: 'http://127.0.0.1:9',
      }),
    ).toMatchObject({ refresh: { oauthUrl: 'http://127.0.0.1:9' } });
  });

  it('reads its limits', () => {
    const config = configure({
      BITRIX24_WEBHOOK_URL: webhook,
      BITRIX24_MAX_IDS_PER_CALL: '500',
      BITRIX24_RATE_PER_SECOND: '1',
      BITRIX24_RATE_BURST: '10000',
    });
    expect(config?.maxIdsPerCall).toBe(500);
    expect(config?.portals[0]?.rate).toEqual({ perSecond: 1, burst: 10_000 });
  });

  it('several portals from BITRIX24_PORTALS_FILE, read through the injected IO', () => {
    const io = portalsIO([
      { name: 'acme', webhookUrl: webhook },
      { portalUrl: 'https://globex.bitrix24.com', accessToken: 'acc', rate: { perSecond: 5, burst: 250 } },
    ]);
    const config = configure({ BITRIX24_PORTALS_FILE: PORTALS_FILE }, io);
    expect(io.read).toEqual([PORTALS_FILE]);
    expect(config?.portals.map((p) => [p.name, p.access.kind, p.rate.perSecond])).toEqual([
      ['acme', 'webhook', 2],
      ['globex.bitrix24.com', 'oauth', 5],
    ]);
    expect(
      configIn(
        loadConfig(providers, { BITRIX24_PORTALS_FILE: PORTALS_FILE }, io),
        bitrix24Provider,
        bitrix24Config,
        { BITRIX24_PORTALS_FILE: PORTALS_FILE },
        io,
      )?.portals,
    ).toHaveLength(2);
  });

  it('the portal of the variables comes first, then those of the file', () => {
    const io = portalsIO([{ name: 'globex', portalUrl: 'https://globex.bitrix24.com', accessToken: 'acc' }]);
    const config = configure({ BITRIX24_WEBHOOK_URL: webhook, BITRIX24_PORTAL_NAME: 'acme', BITRIX24_PORTALS_FILE: PORTALS_FILE }, io);
    expect(config?.portals.map((p) => p.name)).toEqual(['acme', 'globex']);
  });
});

describe('Bitrix24 configuration errors', () => {
  it('refuses a malformed webhook URL, naming the variable and never echoing the webhook secret', () => {
    const bad = refused({ BITRIX24_WEBHOOK_URL: 'https://acme.bitrix24.com/s3cr3tW3bh00k' });
    expect(named(bad)).toEqual(['BITRIX24_WEBHOOK_URL']);
    for (const text of renderings(bad)) expect(text).not.toContain('s3cr3tW3bh00k');
  });

  it('refuses a URL that matches the pattern yet does not parse, by name only: the parser would echo the secret', () => {
    for (const url of ['https://[x/rest/1/s3cr3tW3bh00k/', 'https://a:b/rest/1/s3cr3tW3bh00k/', 'https://a%zz/rest/1/s3cr3tW3bh00k/']) {
      const bad = refused({ BITRIX24_WEBHOOK_URL: url });
      expect(named(bad), url).toEqual(['BITRIX24_WEBHOOK_URL']);
      for (const text of renderings(bad)) expect(text).not.toContain('s3cr3tW3bh00k');
    }
    expect(named(refused({ BITRIX24_PORTAL_URL: 'https://a:99999', BITRIX24_ACCESS_TOKEN: 'acc-s3cr3t' }))).toEqual([
      'BITRIX24_PORTAL_URL',
    ]);
    const inFile = refused(
      { BITRIX24_PORTALS_FILE: PORTALS_FILE },
      portalsIO([{ name: 'a', webhookUrl: 'https://[x/rest/1/s3cr3tW3bh00k/' }]),
    );
    expect(inFile.problems).toEqual(['BITRIX24_PORTALS_FILE: portals.0.webhookUrl is not a valid URL']);
    for (const text of renderings(inFile)) expect(text).not.toContain('s3cr3tW3bh00k');
  });

  it('refuses BITRIX24_PORTAL_NAME without a portal of the variables to name', () => {
    expect(named(refused({ BITRIX24_PORTAL_NAME: 'acme' }))).toEqual(['BITRIX24_PORTAL_NAME']);
    const withFile = refused({ BITRIX24_PORTAL_NAME: 'acme', BITRIX24_PORTALS_FILE: PORTALS_FILE }, portalsIO([{ webhookUrl: webhook }]));
    expect(named(withFile)).toEqual(['BITRIX24_PORTAL_NAME']);
  });

  it('refuses a malformed portal address', () => {
    expect(named(refused({ BITRIX24_PORTAL_URL: 'https://acme.bitrix24.com/rest/', BITRIX24_ACCESS_TOKEN: 'acc' }))).toEqual([
      'BITRIX24_PORTAL_URL',
    ]);
  });

  it('refuses a portal address without an access token', () => {
    expect(named(refused({ BITRIX24_PORTAL_URL: 'https://acme.bitrix24.com' }))).toEqual(['BITRIX24_ACCESS_TOKEN']);
  });

  it('refuses a webhook and a portal address at once, never echoing the webhook secret', () => {
    const both = refused({
      BITRIX24_WEBHOOK_URL: webhook,
      BITRIX24_PORTAL_URL: 'https://globex.bitrix24.com',
      BITRIX24_ACCESS_TOKEN: 'acc',
    });
    expect(named(both)).toEqual(['BITRIX24_WEBHOOK_URL']);
    for (const text of renderings(both)) expect(text).not.toContain('s3cr3tW3bh00k');
  });

  it('refuses a bad portals file entry, naming the file and never echoing the webhook secret', () => {
    const io = portalsIO([{ name: 'a', webhookUrl: 'https://a.example/rest/1/s3cr3tW3bh00k/', portalUrl: 'https://a.example' }]);
    const fileError = configError({ BITRIX24_PORTALS_FILE: PORTALS_FILE }, io);
    expect(new Set(named(fileError))).toEqual(new Set(['BITRIX24_PORTALS_FILE']));
    expect(fileError.problems).toContain('BITRIX24_PORTALS_FILE: portals.0: give either webhookUrl or portalUrl');
    for (const text of renderings(fileError)) expect(text).not.toContain('s3cr3tW3bh00k');
  });

  it('refuses portals file entries that are malformed, naming the entry', () => {
    const error = refused(
      { BITRIX24_PORTALS_FILE: PORTALS_FILE },
      portalsIO([
        { webhookUrl: 'https://a.example/s3cr3tW3bh00k' },
        { portalUrl: 'https://b.example' },
        { name: 'c', webhookUrl: webhook, extra: 1 },
      ]),
    );
    expect(new Set(named(error))).toEqual(new Set(['BITRIX24_PORTALS_FILE']));
    expect(error.problems.some((p) => p.includes('portals.0'))).toBe(true);
    expect(error.problems.some((p) => p.includes('portals.1'))).toBe(true);
    expect(error.problems.some((p) => p.includes('portals.2'))).toBe(true);
    for (const text of renderings(error)) expect(text).not.toContain('s3cr3tW3bh00k');
  });

  it('refuses a portals file with no portals', () => {
    expect(named(refused({ BITRIX24_PORTALS_FILE: PORTALS_FILE }, portalsIO([])))).toEqual(['BITRIX24_PORTALS_FILE']);
  });

  it('refuses a portals file it cannot read, or that is not JSON', () => {
    expect(refused({ BITRIX24_PORTALS_FILE: '/nowhere.json' }).problems).toEqual(['BITRIX24_PORTALS_FILE: cannot read it as JSON']);
    expect(refused({ BITRIX24_PORTALS_FILE: PORTALS_FILE }, fakeIO({ [PORTALS_FILE]: `{ "portals": [ ${webhook}` })).problems).toEqual([
      'BITRIX24_PORTALS_FILE: cannot read it as JSON',
    ]);
  });

  it('refuses two portals of the same name, in the file', () => {
    const error = refused(
      { BITRIX24_PORTALS_FILE: PORTALS_FILE },
      portalsIO([
        { name: 'acme', webhookUrl: webhook },
        { name: 'acme', portalUrl: 'https://globex.bitrix24.com', accessToken: 'acc' },
      ]),
    );
    expect(named(error)).toEqual(['BITRIX24_PORTALS_FILE']);
    expect(error.message).toContain('"acme"');
    for (const text of renderings(error)) expect(text).not.toContain('s3cr3tW3bh00k');
  });

  it('refuses two portals of the same name, one from the variables and one from the file', () => {
    const io = portalsIO([{ webhookUrl: 'https://acme.bitrix24.com/rest/2/other/' }]);
    expect(named(refused({ BITRIX24_WEBHOOK_URL: webhook, BITRIX24_PORTALS_FILE: PORTALS_FILE }, io))).toEqual(['BITRIX24_PORTALS_FILE']);
    const named2 = portalsIO([{ name: 'main', webhookUrl: 'https://globex.bitrix24.com/rest/2/other/' }]);
    const error = refused({ BITRIX24_WEBHOOK_URL: webhook, BITRIX24_PORTAL_NAME: 'main', BITRIX24_PORTALS_FILE: PORTALS_FILE }, named2);
    expect(error.message).toContain('"main"');
  });

  it.each([
    ['BITRIX24_MAX_IDS_PER_CALL', '501'],
    ['BITRIX24_RATE_PER_SECOND', '0'],
    ['BITRIX24_RATE_BURST', '10001'],
    ['BITRIX24_OAUTH_URL', 'ftp://oauth.bitrix.info'],
  ])('names %s (value %j), and only it', (name, value) => {
    expect(named(refused({ BITRIX24_WEBHOOK_URL: webhook, [name]: value }))).toEqual([name]);
  });

  it("reports Bitrix24's problems together with the core's", () => {
    const error = configError({ PORT: 'abc', BITRIX24_WEBHOOK_URL: 'https://acme.bitrix24.com/s3cr3tW3bh00k' });
    expect(named(error).sort()).toEqual(['BITRIX24_WEBHOOK_URL', 'PORT']);
    for (const text of renderings(error)) expect(text).not.toContain('s3cr3tW3bh00k');
  });
});
