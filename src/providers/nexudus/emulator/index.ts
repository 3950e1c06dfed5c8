import { randomBytes } from 'node:crypto';
import type { RunningEmulator } from '../../kit.js';
import { type NexudusEmulator, type NexudusEmulatorOptions, startNexudusEmulator } from './server.js';

export const NEXUDUS_LOGIN = { username: 'ops@coworking.example', password: 'Pa55-w0rd!nexudus' };
export const NEXUDUS_STATIC_TOKEN = 'nx-static-t0ken-123';

/**
 * Nexudus's emulator for the demo and the tests: a real HTTP server on loopback (token endpoint, list
 * and single-record calls, 409 throttling), and the variables that point the provider at it. The
 * provider logs in with a password grant, or, with `auth: 'token'`, uses a static token.
 */
export async function start(
  mode: 'demo' | 'test',
  options: Partial<NexudusEmulatorOptions> & { auth?: 'password' | 'token' } = {},
): Promise<RunningEmulator & { handle: NexudusEmulator }> {
  const { auth, ...emulatorOptions } = options;
  const login = mode === 'demo' ? { username: 'demo@coworking.example', password: randomBytes(12).toString('base64url') } : NEXUDUS_LOGIN;
  const emulator = await startNexudusEmulator({
    ...login,
    staticToken: NEXUDUS_STATIC_TOKEN,
    ...(mode === 'demo' ? { recordRequests: false } : {}),
    ...emulatorOptions,
  });
  const credentials =
    auth === 'token' ? { NEXUDUS_TOKEN: NEXUDUS_STATIC_TOKEN } : { NEXUDUS_USERNAME: login.username, NEXUDUS_PASSWORD: login.password };
  return {
    env: { NEXUDUS_BASE_URL: emulator.url, ...credentials },
    location: emulator.url,
    handle: emulator,
    reset: () => emulator.reset(),
    close: () => emulator.close(),
  };
}
