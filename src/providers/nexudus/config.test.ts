import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config.js';
import type { ConfigIO, Env } from '../../core/types.js';
import { configIn, configureWith } from '../config.test-kit.js';
import { providers } from '../registry.js';
import { type NexudusConfig, nexudusConfig } from './config.js';
import { nexudusProvider } from './index.js';

/** Nexudus's configuration reads no file; anything that tries fails the test instead of touching the disk. */
const io: ConfigIO = {
  exists: () => false,
  readFile: (path) => {
    throw new Error(`no file may be read here (${path})`);
  },
};

/** Nexudus's own outcome: its config, or `undefined` when it is not configured; a ConfigError fails the test. */
function configure(env: Env): NexudusConfig | undefined {
  const outcome = configureWith(() => nexudusConfig, env, io);
  if (outcome instanceof ConfigError) throw outcome;
  return outcome as NexudusConfig | undefined;
}

/** The problems Nexudus's schema finds in `env`. */
function refused(env: Env): ConfigError {
  const outcome = configureWith(() => nexudusConfig, env, io);
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

/** Every rendering of an error a log could hold. */
const renderings = (error: ConfigError) => [error.message, String(error.stack), JSON.stringify(error), ...error.problems];

describe('Nexudus configuration', () => {
  it('is not configured without credentials, whatever else is set', () => {
    expect(configure({})).toBeUndefined();
    expect(configure({ NEXUDUS_BASE_URL: 'http://127.0.0.1:9', NEXUDUS_MAX_IDS_PER_CALL: '25' })).toBeUndefined();
    const config = loadConfig(providers, { NEXUDUS_BASE_URL: 'http://127.0.0.1:9' }, io);
    expect(config.demo).toBe(true);
    expect(configIn(config, nexudusProvider, () => nexudusConfig, { NEXUDUS_BASE_URL: 'http://127.0.0.1:9' }, io)).toBeUndefined();
  });

  it('treats an empty setting as unset, and refuses a credential set but empty', () => {
    expect(configure({ NEXUDUS_TOKEN: 'tok3n', NEXUDUS_BASE_URL: '' })?.credentials).toEqual({ kind: 'token', token: 'tok3n' });
    for (const credential of ['NEXUDUS_TOKEN', 'NEXUDUS_USERNAME', 'NEXUDUS_PASSWORD']) {
      expect(refused({ NEXUDUS_TOKEN: 'tok3n', [credential]: '' }).problems).toEqual([
        `${credential}: is set but empty: give it a value, or unset it`,
      ]);
    }
  });

  it('is on with a token, used as is, with the default limits; the demo is then off', () => {
    const expected: NexudusConfig = {
      baseUrl: 'https://spaces.nexudus.com',
      credentials: { kind: 'token', token: 'tok3n' },
      maxIdsPerCall: 100,
      fullRecordConcurrency: 4,
      maxFullRecordsPerOperation: 50,
    };
    expect(configure({ NEXUDUS_TOKEN: 'tok3n' })).toEqual(expected);
    const config = loadConfig(providers, { NEXUDUS_TOKEN: 'tok3n' }, io);
    expect(config.demo).toBe(false);
    expect(config.configured.map((p) => p.provider)).toEqual([nexudusProvider]);
    expect(configIn(config, nexudusProvider, () => nexudusConfig, { NEXUDUS_TOKEN: 'tok3n' }, io)).toEqual(expected);
  });

  it('is on with a username and password, and reads its base URL and limits', () => {
    expect(
      configure({
        NEXUDUS_USERNAME: 'ops@example.com',
        NEXUDUS_PASSWORD: 'pw',
        NEXUDUS_BASE_URL: 'http://127.0.0.1:9',
        NEXUDUS_MAX_IDS_PER_CALL: '25',
        NEXUDUS_FULL_RECORD_CONCURRENCY: '2',
        NEXUDUS_MAX_FULL_RECORDS_PER_OPERATION: '12',
      }),
    ).toEqual({
      baseUrl: 'http://127.0.0.1:9',
      credentials: { kind: 'password', username: 'ops@example.com', password: 'pw' },
      maxIdsPerCall: 25,
      fullRecordConcurrency: 2,
      maxFullRecordsPerOperation: 12,
    });
  });

  it('keeps the password as given, surrounding spaces included, and trims the username', () => {
    expect(configure({ NEXUDUS_USERNAME: ' ops@example.com ', NEXUDUS_PASSWORD: ' pw ' })?.credentials).toEqual({
      kind: 'password',
      username: 'ops@example.com',
      password: ' pw ',
    });
  });

  it('accepts the bounds of its limits', () => {
    const token = { NEXUDUS_TOKEN: 'tok3n' };
    expect(configure({ ...token, NEXUDUS_MAX_IDS_PER_CALL: '1' })?.maxIdsPerCall).toBe(1);
    expect(configure({ ...token, NEXUDUS_MAX_IDS_PER_CALL: '500' })?.maxIdsPerCall).toBe(500);
    expect(configure({ ...token, NEXUDUS_FULL_RECORD_CONCURRENCY: '1' })?.fullRecordConcurrency).toBe(1);
    expect(configure({ ...token, NEXUDUS_FULL_RECORD_CONCURRENCY: '32' })?.fullRecordConcurrency).toBe(32);
  });

  it.each(['1'])('DEMO=%s forces the demo with Nexudus configured, keeping its settings', (value) => {
    const config = loadConfig(providers, { NEXUDUS_TOKEN: 'tok3n', DEMO: value }, io);
    expect(config.demo).toBe(true);
    expect(configIn(config, nexudusProvider, () => nexudusConfig, { NEXUDUS_TOKEN: 'tok3n', DEMO: value }, io)?.credentials).toEqual({
      kind: 'token',
      token: 'tok3n',
    });
  });
});

describe('Nexudus configuration errors', () => {
  it('refuses half a login or both kinds at once, never echoing the password', () => {
    const half = refused({ NEXUDUS_PASSWORD: 'hunter2-secret' });
    expect(named(half)).toEqual(['NEXUDUS_USERNAME']);
    for (const text of renderings(half)) expect(text).not.toContain('hunter2-secret');
    expect(named(refused({ NEXUDUS_USERNAME: 'a' }))).toEqual(['NEXUDUS_PASSWORD']);
    const both = refused({ NEXUDUS_TOKEN: 't0ken-secret', NEXUDUS_USERNAME: 'a', NEXUDUS_PASSWORD: 'hunter2-secret' });
    expect(named(both)).toEqual(['NEXUDUS_TOKEN']);
    for (const text of renderings(both)) {
      expect(text).not.toContain('hunter2-secret');
      expect(text).not.toContain('t0ken-secret');
    }
    expect(named(refused({ NEXUDUS_TOKEN: 't', NEXUDUS_PASSWORD: 'p' }))).toEqual(['NEXUDUS_TOKEN']);
  });

  it('refuses a token that is not printable ASCII without repeating it', () => {
    const error = refused({ NEXUDUS_TOKEN: 'tok3n SECRET' });
    expect(named(error)).toEqual(['NEXUDUS_TOKEN']);
    for (const text of renderings(error)) expect(text).not.toContain('SECRET');
  });

  it.each([
    ['NEXUDUS_BASE_URL', 'not a url'],
    ['NEXUDUS_BASE_URL', 'ftp://spaces.nexudus.com'],
    ['NEXUDUS_MAX_IDS_PER_CALL', '0'],
    ['NEXUDUS_MAX_IDS_PER_CALL', '501'],
    ['NEXUDUS_FULL_RECORD_CONCURRENCY', '33'],
    ['NEXUDUS_FULL_RECORD_CONCURRENCY', 'many'],
  ])('names %s (value %j), and only it', (name, value) => {
    expect(named(refused({ NEXUDUS_TOKEN: 'tok3n', [name]: value }))).toEqual([name]);
  });

  it("reports Nexudus's problems together with the core's", () => {
    const error = configError({ PORT: 'abc', NEXUDUS_PASSWORD: 'hunter2-secret' });
    expect(named(error).sort()).toEqual(['NEXUDUS_USERNAME', 'PORT']);
    for (const text of renderings(error)) expect(text).not.toContain('hunter2-secret');
  });
});
