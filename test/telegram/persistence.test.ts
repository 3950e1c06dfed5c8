import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStorage } from '@mtcute/node';
import { afterAll, expect, it } from 'vitest';
import { startHarness } from '../support/harness.js';

/**
 * The peer cache lives in the session file (TELEGRAM_SESSION_PATH), so a restart does not forget the
 * users an account has seen: a user account that met `tg_user77` by username before the restart can
 * still look up id 77 after it, with no new resolution.
 */
const dir = mkdtempSync(join(tmpdir(), 'tg-session-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('keeps the peer cache across a restart', async () => {
  const path = join(dir, 'telegram.session');
  const options = { isBot: false, acceptZeroAccessHash: false } as const;

  const before = await startHarness({ emulators: { telegram: { ...options, storage: new SqliteStorage(path) } } });
  const seen = await before.gql('{ telegramUsers(usernames: ["tg_user77"]) { id } }');
  expect(seen.body.errors).toBeUndefined();
  expect(seen.body.data.telegramUsers).toEqual([{ id: '77' }]);
  await before.close();

  const after = await startHarness({ emulators: { telegram: { ...options, storage: new SqliteStorage(path) } } });
  try {
    const { body } = await after.gql('{ telegramUsers(ids: ["77", "78"]) { id username } }');
    expect(body.data.telegramUsers).toEqual([{ id: '77', username: 'tg_user77' }, null]);
    expect(body.errors![0]!.extensions).toMatchObject({ code: 'NOT_FOUND', id: '78' });
    expect(after.emulator('telegram').rpcs.map((r) => r.method)).toEqual(['users.getUsers']);
    expect(after.emulator('telegram').rpcs[0]!.ids).toEqual([77]);
  } finally {
    await after.close();
  }
});
