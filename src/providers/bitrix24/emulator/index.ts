import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Env } from '../../../core/types.js';
import type { RunningEmulator } from '../../kit.js';
import { type Bitrix24Emulator, type Bitrix24EmulatorOptions, startBitrix24Emulator } from './server.js';

/** A portal for a test: its name, whether it is reached through OAuth (else a webhook), and the emulator's options. */
export interface PortalSpec {
  name: string;
  oauth?: boolean;
  emulator?: Partial<Bitrix24EmulatorOptions>;
}

export const BITRIX_TEST_SECRET = 'wh5ecr3tAbCdEf0123';
export const BITRIX_OAUTH = {
  clientId: 'app.test.1',
  clientSecret: 'cl1ent-s3cret-XYZ',
  accessToken: 'acc-t0ken-1',
  refreshToken: 'ref-t0ken-1',
};
export const DEMO_PORTAL = 'demo.bitrix24.local';

/**
 * Bitrix24's emulator for the demo and the tests: one strict fake portal per name (a webhook unless
 * OAuth is asked for), and the variables that point the provider at them. Several portals travel in a
 * BITRIX24_PORTALS_FILE in a temporary folder, removed again by `close()`.
 */
export async function start(
  mode: 'demo' | 'test',
  options: { portals?: PortalSpec[] } = {},
): Promise<RunningEmulator & { handle: Map<string, Bitrix24Emulator> }> {
  const specs = options.portals ?? [{ name: mode === 'demo' ? DEMO_PORTAL : 'portal-a' }];
  const secret = mode === 'demo' ? randomBytes(12).toString('hex') : BITRIX_TEST_SECRET;
  const emulators = new Map<string, Bitrix24Emulator>();
  for (const spec of specs) {
    const emulator = await startBitrix24Emulator({
      ...(spec.oauth ? { oauth: { ...BITRIX_OAUTH } } : { webhook: { userId: 1, secret } }),
      ...(mode === 'demo' ? { recordRequests: false } : {}),
      ...spec.emulator,
    });
    emulators.set(spec.name, emulator);
  }
  const close = async () => {
    await Promise.all([...emulators.values()].map((emulator) => emulator.close()));
  };
  const entries = specs.map((spec) => {
    const emulator = emulators.get(spec.name)!;
    return spec.oauth
      ? { name: spec.name, portalUrl: emulator.url, ...BITRIX_OAUTH }
      : { name: spec.name, webhookUrl: emulator.webhookUrl };
  });
  // The emulator of an OAuth portal also plays Bitrix24's OAuth server.
  const oauthPortal = specs.find((spec) => spec.oauth);
  const oauthEnv: Env = oauthPortal === undefined ? {} : { BITRIX24_OAUTH_URL: emulators.get(oauthPortal.name)!.url };
  const base = {
    location: [...emulators.values()].map((emulator) => emulator.url).join(', '),
    handle: emulators,
    reset: () => {
      for (const emulator of emulators.values()) emulator.reset();
    },
  };

  const only = entries.length === 1 ? entries[0]! : undefined;
  if (only !== undefined && 'webhookUrl' in only) {
    return { ...base, env: { BITRIX24_WEBHOOK_URL: only.webhookUrl, BITRIX24_PORTAL_NAME: only.name }, close };
  }
  const dir = mkdtempSync(join(tmpdir(), 'bitrix-portals-'));
  const file = join(dir, 'portals.json');
  writeFileSync(file, JSON.stringify({ portals: entries }));
  return {
    ...base,
    env: { BITRIX24_PORTALS_FILE: file, ...oauthEnv },
    close: async () => {
      rmSync(dir, { recursive: true, force: true });
      await close();
    },
  };
}
