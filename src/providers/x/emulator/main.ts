/**
 * Runs the X API v2 emulator standalone, e.g. to point the subgraph (or curl) at it:
 *   PORT=4101 X_BEARER_TOKEN=demo-token tsx src/providers/x/emulator/main.ts
 */
import { startXEmulator } from './server.js';

const port = Number(process.env.PORT ?? 4101);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`x emulator: PORT must be an integer 0-65535, got ${JSON.stringify(process.env.PORT)}`);
  process.exit(1);
}
const bearerToken = process.env.X_BEARER_TOKEN || 'demo-token';
// X's real budget is 300 calls / 15 min per endpoint; a benchmark needs more: X_RATE_LIMIT=limit/windowSeconds.
const [limit, windowSeconds] = (process.env.X_RATE_LIMIT ?? '300/900').split('/').map(Number);
if (!Number.isInteger(limit) || !Number.isInteger(windowSeconds) || limit! < 1 || windowSeconds! < 1) {
  console.error('x emulator: X_RATE_LIMIT must look like 300/900 (calls per window in seconds)');
  process.exit(1);
}

const emulator = await startXEmulator({
  bearerToken,
  port,
  rateLimit: { limit: limit!, windowSeconds: windowSeconds! },
  recordRequests: false,
  memoizeBodies: process.env.X_MEMOIZE === '1',
});
console.log(
  `x emulator listening on ${emulator.url} (try: curl -H "Authorization: Bearer $X_BEARER_TOKEN" '${emulator.url}/2/users?ids=1,2')`,
);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void emulator.close().then(() => process.exit(0));
  });
}
