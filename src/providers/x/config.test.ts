import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config.js';
import type { ConfigIO, Env } from '../../core/types.js';
import { configIn, configureWith } from '../config.test-kit.js';
import { providers } from '../registry.js';
import { type XConfig, xConfig } from './config.js';
import { xProvider } from './index.js';

const TOKEN = 'AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid';

/** X's configuration reads no file; anything that tries fails the test instead of touching the disk. */
const io: ConfigIO = {
  exists: () => false,
  readFile: (path) => {
    throw new Error(`no file may be read here (${path})`);
  },
};

/** X's own outcome: its config, or `undefined` when it is not configured; a ConfigError fails the test. */
function configure(env: Env): XConfig | undefined {
  const outcome = configureWith(() => xConfig, env, io);
  if (outcome instanceof ConfigError) throw outcome;
  return outcome as XConfig | undefined;
}

/** The problems X's schema finds in `env`. */
function refused(env: Env): ConfigError {
  const outcome = configureWith(() => xConfig, env, io);
  expect(outcome).toBeInstanceOf(ConfigError);
  return outcome as ConfigError;
}

/** The problems the whole configuration finds in `env`, the core's included. */
function configError(env: Env): ConfigError {
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

describe('X configuration', () => {
  it('is not configured in an empty environment', () => {
    expect(configure({})).toBeUndefined();
  });

  it('is not configured, and the demo runs, when no token is set', () => {
    expect(configure({ X_API_BASE_URL: 'https://api.example.com' })).toBeUndefined();
    const config = loadConfig(providers, { X_API_BASE_URL: 'https://api.example.com' }, io);
    expect(config.demo).toBe(true);
    expect(configIn(config, xProvider, () => xConfig, { X_API_BASE_URL: 'https://api.example.com' }, io)).toBeUndefined();
  });

  it('treats an empty setting as unset, and refuses an empty or blank token rather than start without X', () => {
    expect(configure({ X_BEARER_TOKEN: TOKEN, X_API_BASE_URL: '' })).toEqual({ bearerToken: TOKEN, baseUrl: 'https://api.x.com' });
    for (const blank of ['', '   ']) {
      expect(configError({ X_BEARER_TOKEN: blank }).problems).toEqual(['X_BEARER_TOKEN: is set but empty: give it a value, or unset it']);
    }
  });

  it('is on with a token, against the real API by default; the demo is then off', () => {
    expect(configure({ X_BEARER_TOKEN: TOKEN })).toEqual({ bearerToken: TOKEN, baseUrl: 'https://api.x.com' });
    const config = loadConfig(providers, { X_BEARER_TOKEN: TOKEN }, io);
    expect(config.demo).toBe(false);
    expect(config.configured.map((p) => p.provider)).toEqual([xProvider]);
    expect(configIn(config, xProvider, () => xConfig, { X_BEARER_TOKEN: TOKEN }, io)).toEqual({
      bearerToken: TOKEN,
      baseUrl: 'https://api.x.com',
    });
  });

  it('reads X_API_BASE_URL', () => {
    expect(configure({ X_BEARER_TOKEN: TOKEN, X_API_BASE_URL: 'http://127.0.0.1:9999' })).toEqual({
      bearerToken: TOKEN,
      baseUrl: 'http://127.0.0.1:9999',
    });
  });

  it('trims surrounding whitespace off the token', () => {
    expect(configure({ X_BEARER_TOKEN: `  ${TOKEN}\n` })?.bearerToken).toBe(TOKEN);
  });

  it.each(['1'])('DEMO=%s forces the demo with a token set, keeping the X settings', (value) => {
    const config = loadConfig(providers, { DEMO: value, X_BEARER_TOKEN: TOKEN }, io);
    expect(config.demo).toBe(true);
    expect(configIn(config, xProvider, () => xConfig, { DEMO: value, X_BEARER_TOKEN: TOKEN }, io)).toEqual({
      bearerToken: TOKEN,
      baseUrl: 'https://api.x.com',
    });
  });
});

describe('X configuration errors', () => {
  it.each(['not a url', 'ftp://api.x.com'])('names X_API_BASE_URL (value %j), and only it', (value) => {
    const error = refused({ X_API_BASE_URL: value, X_BEARER_TOKEN: TOKEN });
    expect(error.message).toMatch(/^Invalid configuration:/);
    expect(error.problems).toEqual(['X_API_BASE_URL: must be an http(s) URL']);
    expect(named(configError({ X_API_BASE_URL: value, X_BEARER_TOKEN: TOKEN }))).toEqual(['X_API_BASE_URL']);
  });

  it('refuses a bad X_API_BASE_URL even with no token set', () => {
    expect(named(refused({ X_API_BASE_URL: 'ftp://api.x.com' }))).toEqual(['X_API_BASE_URL']);
  });

  it("reports X's problems together with the core's", () => {
    const error = configError({ PORT: 'abc', X_API_BASE_URL: 'ftp://x', LOG_LEVEL: 'verbose' });
    expect(new Set(named(error))).toEqual(new Set(['PORT', 'X_API_BASE_URL', 'LOG_LEVEL']));
    expect(error.problems).toHaveLength(3);
    for (const problem of error.problems) expect(error.message).toContain(`  - ${problem}`);
  });

  it('rejects a token containing a space without repeating it', () => {
    const secret = 'Xs3cr3tPart1 Xs3cr3tPart2';
    expect(named(refused({ X_BEARER_TOKEN: secret }))).toEqual(['X_BEARER_TOKEN']);
    const error = configError({ X_BEARER_TOKEN: secret, PORT: 'abc' });
    expect(named(error).sort()).toEqual(['PORT', 'X_BEARER_TOKEN']);
    for (const text of [error.message, String(error.stack), JSON.stringify(error), ...error.problems]) {
      expect(text).not.toContain('Xs3cr3tPart1');
      expect(text).not.toContain('Xs3cr3tPart2');
    }
  });

  it('rejects a non-ASCII token without repeating it', () => {
    const error = refused({ X_BEARER_TOKEN: 'tökenSECRET' });
    expect(named(error)).toEqual(['X_BEARER_TOKEN']);
    expect(error.message).not.toContain('SECRET');
  });

  it('never repeats an invalid value in the message', () => {
    const error = configError({ PORT: 'v4lu3PORT', X_API_BASE_URL: 'v4lu3URL', X_BEARER_TOKEN: 'v4lu3 TOKEN' });
    expect(named(error).sort()).toEqual(['PORT', 'X_API_BASE_URL', 'X_BEARER_TOKEN']);
    for (const text of [error.message, String(error.stack), JSON.stringify(error), ...error.problems]) {
      expect(text).not.toContain('v4lu3');
    }
  });
});
