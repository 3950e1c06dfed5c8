import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, expect, it } from 'vitest';
import { loadConfig, realIO } from '../../config.js';
import type { Env } from '../../core/types.js';
import { configIn } from '../config.test-kit.js';
import { providers } from '../registry.js';
import { telegramConfig } from './config.js';
import { connectTelegram } from './connect.js';
import { telegramProvider } from './index.js';

/**
 * The production connection as far as it goes without Telegram: mtcute's client over a real SQLite
 * session file at TELEGRAM_SESSION_PATH, its peer cache read through our client. Nothing here makes an
 * RPC (mtcute's `prepare()` opens storage and does not connect), so no traffic leaves the machine.
 */
const dir = mkdtempSync(join(tmpdir(), 'tg-connect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const app = { TELEGRAM_API_ID: '12345', TELEGRAM_API_HASH: '0123456789abcdef0123456789abcdef' };

/** The whole configuration for `env`, a saved session taken to exist: Telegram's part of it and the upstream settings. */
function configured(env: Env) {
  const io = { ...realIO, exists: () => true };
  const config = loadConfig(providers, env, io);
  const telegram = configIn(config, telegramProvider, telegramConfig, env, io);
  if (telegram === undefined) throw new Error('Telegram is not configured');
  return { telegram, upstream: config.upstream };
}

it('as a bot: opens the session file and names an unseen user with access hash 0', async () => {
  const sessionPath = join(dir, 'bot.session');
  const { telegram, upstream } = configured({
    ...app,
    TELEGRAM_BOT_TOKEN: '123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    TELEGRAM_SESSION_PATH: sessionPath,
  });
  expect(telegram.botToken).toBeDefined();
  const client = connectTelegram(telegram, upstream, pino({ level: 'silent' }));
  try {
    const input = await client.inputUser(5);
    expect(input).toMatchObject({ _: 'inputUser', userId: 5 });
    expect(input?._ === 'inputUser' && input.accessHash.isZero()).toBe(true);
    expect(await client.cachedIdForUsername('tg_user5')).toBeUndefined();
    expect(client.maxIdsPerCall).toBe(100);
    expect(existsSync(sessionPath)).toBe(true);
  } finally {
    await client.close();
  }
});

it('as a user account: an unseen user has no InputUser', async () => {
  const sessionPath = join(dir, 'user.session');
  const { telegram, upstream } = configured({ ...app, TELEGRAM_SESSION_PATH: sessionPath });
  expect(telegram.botToken).toBeUndefined();
  const client = connectTelegram(telegram, upstream, pino({ level: 'silent' }));
  try {
    expect(await client.inputUser(5)).toBeUndefined();
  } finally {
    await client.close();
  }
});
