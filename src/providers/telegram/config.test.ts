import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config.js';
import type { ConfigIO, Env } from '../../core/types.js';
import { configIn, configureWith } from '../config.test-kit.js';
import { providers } from '../registry.js';
import { type TelegramConfig, telegramConfig } from './config.js';
import { telegramProvider } from './index.js';

const app = { TELEGRAM_API_ID: '123456', TELEGRAM_API_HASH: '0123456789abcdef0123456789abcdef' };
const botToken = '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw';

/**
 * The file system as the configuration sees it: a saved session exists at the paths in `sessions`
 * only, every path asked about is recorded, and no file may be read. Nothing touches the real disk.
 */
function fakeIO(sessions: string[] = []): ConfigIO & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    exists: (path) => {
      asked.push(path);
      return sessions.includes(path);
    },
    readFile: (path) => {
      throw new Error(`no file may be read here (${path})`);
    },
  };
}

/** Telegram's own outcome: its config, or `undefined` when it is not configured; a ConfigError fails the test. */
function configure(env: Env, io: ConfigIO = fakeIO()): TelegramConfig | undefined {
  const outcome = configureWith(telegramConfig, env, io);
  if (outcome instanceof ConfigError) throw outcome;
  return outcome as TelegramConfig | undefined;
}

/** The problems Telegram's schema finds in `env`. */
function refused(env: Env, io: ConfigIO = fakeIO()): ConfigError {
  const outcome = configureWith(telegramConfig, env, io);
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

describe('Telegram configuration', () => {
  it('is not configured without its credentials, whatever else is set, and asks after no session', () => {
    const io = fakeIO(['telegram.session', '/data/tg.session']);
    expect(configure({}, io)).toBeUndefined();
    expect(configure({ TELEGRAM_SESSION_PATH: '/data/tg.session', TELEGRAM_MAX_IDS_PER_CALL: '150' }, io)).toBeUndefined();
    expect(io.asked).toEqual([]);
    const config = loadConfig(providers, { TELEGRAM_SESSION_PATH: '/data/tg.session' }, io);
    expect(config.demo).toBe(true);
    expect(configIn(config, telegramProvider, telegramConfig, { TELEGRAM_SESSION_PATH: '/data/tg.session' }, io)).toBeUndefined();
  });

  it('treats an empty setting as unset, and refuses a credential set but empty', () => {
    expect(configure({ TELEGRAM_SESSION_PATH: '', TELEGRAM_MAX_IDS_PER_CALL: '' })).toBeUndefined();
    for (const credential of ['TELEGRAM_API_ID', 'TELEGRAM_API_HASH', 'TELEGRAM_BOT_TOKEN']) {
      expect(configError({ ...app, TELEGRAM_BOT_TOKEN: botToken, [credential]: ' ' }).problems).toEqual([
        `${credential}: is set but empty: give it a value, or unset it`,
      ]);
    }
    expect(configure({ ...app, TELEGRAM_BOT_TOKEN: botToken, TELEGRAM_SESSION_PATH: '', TELEGRAM_MAX_IDS_PER_CALL: '' })).toMatchObject({
      sessionPath: 'telegram.session',
      maxIdsPerCall: 100,
    });
  });

  it('is on as a bot with the app credentials and a bot token, with the default limits; the demo is then off', () => {
    const expected: TelegramConfig = {
      apiId: 123456,
      apiHash: app.TELEGRAM_API_HASH,
      botToken,
      sessionPath: 'telegram.session',
      maxIdsPerCall: 100,
      floodWaitThresholdSeconds: 5,
    };
    expect(configure({ ...app, TELEGRAM_BOT_TOKEN: botToken })).toEqual(expected);
    const config = loadConfig(providers, { ...app, TELEGRAM_BOT_TOKEN: botToken }, fakeIO());
    expect(config.demo).toBe(false);
    expect(config.configured.map((p) => p.provider)).toEqual([telegramProvider]);
    expect(configIn(config, telegramProvider, telegramConfig, { ...app, TELEGRAM_BOT_TOKEN: botToken }, fakeIO())).toEqual(expected);
  });

  it('is on as a user when a saved session exists at TELEGRAM_SESSION_PATH, asking the injected IO', () => {
    const io = fakeIO(['/var/lib/users/tg.session']);
    const config = configure({ ...app, TELEGRAM_SESSION_PATH: '/var/lib/users/tg.session' }, io);
    expect(config).toMatchObject({ botToken: undefined, sessionPath: '/var/lib/users/tg.session' });
    expect(io.asked).toEqual(['/var/lib/users/tg.session']);
  });

  it('looks for the saved session at the default path when TELEGRAM_SESSION_PATH is unset', () => {
    const io = fakeIO(['telegram.session']);
    expect(configure(app, io)).toMatchObject({ botToken: undefined, sessionPath: 'telegram.session' });
    expect(io.asked).toEqual(['telegram.session']);
  });

  it('reads its limits and its session path', () => {
    expect(
      configure({
        TELEGRAM_API_ID: '42',
        TELEGRAM_API_HASH: 'ffffffffffffffffffffffffffffffff',
        TELEGRAM_BOT_TOKEN: '42:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        TELEGRAM_SESSION_PATH: '/data/tg.session',
        TELEGRAM_MAX_IDS_PER_CALL: '150',
        TELEGRAM_FLOOD_WAIT_THRESHOLD_SECONDS: '30',
      }),
    ).toEqual({
      apiId: 42,
      apiHash: 'ffffffffffffffffffffffffffffffff',
      botToken: '42:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      sessionPath: '/data/tg.session',
      maxIdsPerCall: 150,
      floodWaitThresholdSeconds: 30,
    });
  });

  it('accepts the bounds of its limits', () => {
    const bot = { ...app, TELEGRAM_BOT_TOKEN: botToken };
    expect(configure({ ...bot, TELEGRAM_MAX_IDS_PER_CALL: '1' })?.maxIdsPerCall).toBe(1);
    expect(configure({ ...bot, TELEGRAM_MAX_IDS_PER_CALL: '200' })?.maxIdsPerCall).toBe(200);
    expect(configure({ ...bot, TELEGRAM_FLOOD_WAIT_THRESHOLD_SECONDS: '0' })?.floodWaitThresholdSeconds).toBe(0);
    expect(configure({ ...bot, TELEGRAM_FLOOD_WAIT_THRESHOLD_SECONDS: '600' })?.floodWaitThresholdSeconds).toBe(600);
  });

  it.each(['1'])('DEMO=%s forces the demo with Telegram configured, keeping its settings', (value) => {
    const config = loadConfig(providers, { ...app, TELEGRAM_BOT_TOKEN: botToken, DEMO: value }, fakeIO());
    expect(config.demo).toBe(true);
    expect(
      configIn(config, telegramProvider, telegramConfig, { ...app, TELEGRAM_BOT_TOKEN: botToken, DEMO: value }, fakeIO()),
    ).toMatchObject({ botToken });
  });
});

describe('Telegram configuration errors', () => {
  it('refuses half a configuration, naming what is missing, and never echoes the token', () => {
    const missingHash = refused({ TELEGRAM_API_ID: '1', TELEGRAM_BOT_TOKEN: botToken });
    expect(named(missingHash)).toEqual(['TELEGRAM_API_HASH']);
    expect(missingHash.message).not.toContain(botToken);
    expect(named(refused({ TELEGRAM_API_HASH: app.TELEGRAM_API_HASH, TELEGRAM_BOT_TOKEN: botToken }))).toEqual(['TELEGRAM_API_ID']);
    const onlyToken = refused({ TELEGRAM_BOT_TOKEN: botToken });
    expect(named(onlyToken).sort()).toEqual(['TELEGRAM_API_HASH', 'TELEGRAM_API_ID']);
    expect(onlyToken.message).not.toContain(botToken);
    expect(named(configError({ TELEGRAM_API_ID: '1', TELEGRAM_BOT_TOKEN: botToken }))).toEqual(['TELEGRAM_API_HASH']);
  });

  it('refuses the app credentials with no one to act as, pointing at telegram:login', () => {
    const io = fakeIO();
    const noOne = refused(app, io);
    expect(named(noOne)).toEqual(['TELEGRAM_BOT_TOKEN']);
    expect(noOne.message).toContain('npm run telegram:login');
    expect(io.asked).toEqual(['telegram.session']);
    expect(configError(app).message).toContain('npm run telegram:login');
  });

  it('checks the formats of its variables without repeating their values', () => {
    const bad = refused({
      TELEGRAM_API_ID: 'abc',
      TELEGRAM_API_HASH: 'short',
      TELEGRAM_BOT_TOKEN: 'not-a-token',
      TELEGRAM_MAX_IDS_PER_CALL: '500',
    });
    expect(named(bad).sort()).toEqual(['TELEGRAM_API_HASH', 'TELEGRAM_API_ID', 'TELEGRAM_BOT_TOKEN', 'TELEGRAM_MAX_IDS_PER_CALL']);
    for (const text of [bad.message, String(bad.stack), JSON.stringify(bad), ...bad.problems]) {
      expect(text).not.toContain('not-a-token');
      expect(text).not.toContain('short');
      expect(text).not.toContain('abc');
    }
  });

  it.each([
    ['TELEGRAM_MAX_IDS_PER_CALL', '0'],
    ['TELEGRAM_MAX_IDS_PER_CALL', '201'],
    ['TELEGRAM_FLOOD_WAIT_THRESHOLD_SECONDS', '601'],
    ['TELEGRAM_FLOOD_WAIT_THRESHOLD_SECONDS', '5s'],
  ])('names %s (value %j), and only it', (name, value) => {
    expect(named(refused({ ...app, TELEGRAM_BOT_TOKEN: botToken, [name]: value }))).toEqual([name]);
  });

  it("reports Telegram's problems together with the core's, never echoing a secret", () => {
    const error = configError({ PORT: 'abc', TELEGRAM_API_ID: '1', TELEGRAM_API_HASH: 's3cr3t h4sh', TELEGRAM_BOT_TOKEN: botToken });
    expect(named(error).sort()).toEqual(['PORT', 'TELEGRAM_API_HASH']);
    expect(error.message).not.toContain('s3cr3t');
    expect(error.message).not.toContain(botToken);
  });
});
