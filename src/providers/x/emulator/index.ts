import { randomBytes } from 'node:crypto';
import type { RunningEmulator } from '../../kit.js';
import { startXEmulator, type XEmulator, type XEmulatorOptions } from './server.js';

/** The bearer token of the test emulator (tests assert it never shows). */
export const X_TEST_TOKEN = 'test-bearer-AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid';

/**
 * X's emulator for the demo and the tests: a real HTTP server on loopback, and the variables that
 * point the provider at it. The bearer token is made up per run and exists only between the two.
 */
export async function start(
  mode: 'demo' | 'test',
  options: Partial<XEmulatorOptions> = {},
): Promise<RunningEmulator & { handle: XEmulator }> {
  const bearerToken = options.bearerToken ?? (mode === 'test' ? X_TEST_TOKEN : randomBytes(24).toString('base64url'));
  const emulator = await startXEmulator({
    // X's real budget (300 calls / 15 min) would end a demo session early; the demo allows 100 times that.
    ...(mode === 'demo' ? { rateLimit: { limit: 30_000, windowSeconds: 900 }, recordRequests: false } : {}),
    ...options,
    bearerToken,
  });
  return {
    env: { X_BEARER_TOKEN: bearerToken, X_API_BASE_URL: emulator.url },
    location: emulator.url,
    handle: emulator,
    reset: () => emulator.reset(),
    close: () => emulator.close(),
  };
}
