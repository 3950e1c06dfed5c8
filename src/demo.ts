import type { Logger } from 'pino';
import { type ProviderSetup, realIO } from './config.js';

/**
 * The embedded demo (README, "Run it"): every provider's emulator (its test kit, loaded only now), started
 * in process on loopback, and each provider configured to use its own, exactly as a user would configure
 * it for the real API. Each emulator knows users 1-10000. Credentials are made up per process and exist
 * only between this process and its own emulators.
 */
export interface Demo {
  setups: ProviderSetup[];
  transports: ReadonlyMap<string, unknown>;
  close(): Promise<void>;
}

export async function startDemo(logger: Logger): Promise<Demo> {
  const [{ kits }, { startEmulators }] = await Promise.all([import('./providers/kits.js'), import('./emulators/start.js')]);
  const emulators = await startEmulators(kits.map((kit) => ({ name: kit.provider.id.name, start: () => kit.start('demo') })));
  const setups: ProviderSetup[] = [];
  for (const { provider } of kits) {
    const configured = provider.configure(emulators.running.get(provider.id.name)?.env ?? {}, realIO);
    if (configured === undefined || 'problems' in configured) {
      await emulators.close();
      throw new Error(`the demo's ${provider.id.label} emulator gave a configuration its provider does not accept`);
    }
    setups.push({ provider, configured });
  }
  // At warn: made-up users, personal data open and introspection on belong in no production log unnoticed.
  logger.warn(
    { providers: Object.fromEntries([...emulators.running].map(([name, emulator]) => [name, emulator.location])) },
    'DEMO MODE: no provider credentials are set outside production (or DEMO=1), so this subgraph serves built-in emulators ' +
      'of the upstream APIs on loopback; every provider knows the users with ids 1-10000',
  );
  return { setups, transports: emulators.transports, close: emulators.close };
}
