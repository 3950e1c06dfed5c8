/**
 * `npm run telegram:login` — signs a Telegram *user* account in once, interactively (phone number,
 * the code Telegram sends, and the 2FA password if the account has one), and saves the session and
 * peer cache to TELEGRAM_SESSION_PATH. The subgraph then acts as that user on every start, without
 * TELEGRAM_BOT_TOKEN. Needs TELEGRAM_API_ID and TELEGRAM_API_HASH (https://my.telegram.org, "API
 * development tools"). Nothing typed here is logged.
 */
import { TelegramClient } from '@mtcute/node';
import { problemsOf } from '../../core/env.js';
import { telegramConfig } from './config.js';

async function main(): Promise<void> {
  // A session need not exist yet: that is what this command makes.
  const io = { readFile: () => '', exists: () => true };
  const outcome = telegramConfig(io).safeParse({ ...process.env, TELEGRAM_BOT_TOKEN: '' });
  if (!outcome.success) {
    process.stderr.write(
      `Invalid configuration:\n${problemsOf(outcome.error)
        .map((p) => `  - ${p}`)
        .join('\n')}\n`,
    );
    process.exit(78);
  }
  const config = outcome.data;
  if (config === undefined) {
    process.stderr.write('Set TELEGRAM_API_ID and TELEGRAM_API_HASH first (https://my.telegram.org).\n');
    process.exit(78);
  }
  const client = new TelegramClient({
    apiId: config.apiId,
    apiHash: config.apiHash,
    storage: config.sessionPath,
    disableUpdates: true,
    logLevel: 1,
  });
  const me = await client.start({
    phone: () => client.input('Phone number (international format) > '),
    code: () => client.input('Code Telegram sent you > '),
    password: () => client.input('2FA password > '),
  });
  process.stdout.write(`Signed in as ${me.displayName} (id ${me.id}); session saved to ${config.sessionPath}\n`);
  await client.destroy();
}

main().catch((error: unknown) => {
  process.stderr.write(`telegram:login failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
