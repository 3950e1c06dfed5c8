/**
 * `npm run telegram:login` — signs a Telegram *user* account in once, interactively (phone number,
 * the code Telegram sends, and the 2FA password if the account has one), and saves the session and
 * peer cache to TELEGRAM_SESSION_PATH. The subgraph then acts as that user on every start, without
 * TELEGRAM_BOT_TOKEN. Needs TELEGRAM_API_ID and TELEGRAM_API_HASH (https://my.telegram.org, "API
 * development tools"). Nothing typed here is logged.
 */
import { TelegramClient } from '@mtcute/node';
import { ConfigError, loadConfig } from '../../config.js';

async function main(): Promise<void> {
  let config;
  try {
    // A session need not exist yet: that is what this command makes.
    config = loadConfig({ ...process.env, TELEGRAM_BOT_TOKEN: '' }, { sessionExists: () => true });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
  if (config.telegram === undefined) {
    process.stderr.write('Set TELEGRAM_API_ID and TELEGRAM_API_HASH first (https://my.telegram.org).\n');
    process.exit(78);
  }
  const client = new TelegramClient({
    apiId: config.telegram.apiId,
    apiHash: config.telegram.apiHash,
    storage: config.telegram.sessionPath,
    disableUpdates: true,
    logLevel: 1,
  });
  const me = await client.start({
    phone: () => client.input('Phone number (international format) > '),
    code: () => client.input('Code Telegram sent you > '),
    password: () => client.input('2FA password > '),
  });
  process.stdout.write(`Signed in as ${me.displayName} (id ${me.id}); session saved to ${config.telegram.sessionPath}\n`);
  await client.destroy();
}

main().catch((error: unknown) => {
  process.stderr.write(`telegram:login failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
