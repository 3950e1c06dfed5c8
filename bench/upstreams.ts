/**
 * The benchmark's upstreams (`npm run bench`): the X, Bitrix24 and Nexudus emulators in a process of
 * their own, so that the CPU the subgraph spends and the CPU the upstreams spend are read apart (from
 * /proc). Telegram speaks MTProto through an in-process transport and stays in the subgraph's process.
 *
 * Every answer is built the way a real server builds it (JSON.stringify of fresh records), unless
 * BENCH_EMULATOR=memoized, which replays X's bodies from a cache (the mode earlier benchmarks used).
 * Rate limits are raised out of the way: the benchmark measures work, not waiting.
 *
 * It talks to the benchmark over IPC: it sends `{ env }` (the variables that point a subgraph at it)
 * once listening; on `{ capture: true }` it starts recording the HTTP requests it receives (method,
 * URL, the headers that matter, body), and on `{ capture: false }` sends them back as `{ captured }`:
 * how the benchmark learns which upstream requests one operation makes, to replay them raw.
 */
import { type IncomingMessage, Server } from 'node:http';
import { start as startBitrix24 } from '../src/providers/bitrix24/emulator/index.js';
import { start as startNexudus } from '../src/providers/nexudus/emulator/index.js';
import { startXEmulator } from '../src/providers/x/emulator/server.js';

export interface CapturedRequest {
  method: string;
  /** Absolute URL. */
  url: string;
  headers: Record<string, string>;
  body: string;
}

export type UpstreamMessage = { env: Record<string, string> } | { captured: CapturedRequest[] };

const X_TOKEN = 'bench-token';
const REPLAYED_HEADERS = ['authorization', 'content-type', 'accept'];

let captured: CapturedRequest[] | undefined;
// Recording without touching the emulators: every node:http server in this process emits 'request'.
const emit = Server.prototype.emit;
Server.prototype.emit = function (this: Server, event: string | symbol, ...args: unknown[]) {
  if (event === 'request' && captured !== undefined) record(args[0] as IncomingMessage, this);
  return Reflect.apply(emit, this, [event, ...args]) as boolean;
} as typeof Server.prototype.emit;

function record(req: IncomingMessage, server: Server): void {
  const address = server.address();
  if (address === null || typeof address === 'string') return;
  const headers: Record<string, string> = {};
  for (const name of REPLAYED_HEADERS) {
    const value = req.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  const entry: CapturedRequest = {
    method: req.method ?? 'GET',
    url: `http://127.0.0.1:${address.port}${req.url ?? '/'}`,
    headers,
    body: '',
  };
  captured?.push(entry);
  req.on('data', (chunk: Buffer) => {
    entry.body += chunk.toString('utf8');
  });
}

const x = await startXEmulator({
  bearerToken: X_TOKEN,
  port: 0,
  // Every id up to 10^15 is a user: the cold scenarios ask each id once (records alike but for their ids).
  maxKnownId: 1e15,
  rateLimit: { limit: 1_000_000_000, windowSeconds: 900 },
  recordRequests: false,
  memoizeBodies: process.env.BENCH_EMULATOR === 'memoized',
});
// The warm scenario's X answers after a network's latency (X's own is some tens of ms), as in
// `npm run bench:zipf`: what a cache saves is the waiting, and a loopback emulator never waits.
const xFar = await startXEmulator({
  bearerToken: X_TOKEN,
  port: 0,
  rateLimit: { limit: 1_000_000_000, windowSeconds: 900 },
  recordRequests: false,
  latencyMs: Number(process.env.BENCH_WARM_UPSTREAM_LATENCY_MS ?? 50),
});
const bitrix24 = await startBitrix24('demo', {
  portals: [{ name: 'bench.bitrix24.local', emulator: { bucket: { perSecond: 100_000, burst: 100_000 } } }],
});
const nexudus = await startNexudus('demo', { throttle: false, auth: 'token' });

const send = (message: UpstreamMessage) => process.send?.(message);
send({ env: { X_API_BASE_URL: x.url, X_FAR_API_BASE_URL: xFar.url, X_BEARER_TOKEN: X_TOKEN, ...bitrix24.env, ...nexudus.env } });

process.on('message', (message: { capture?: boolean }) => {
  if (message.capture === true) captured = [];
  else if (message.capture === false) {
    send({ captured: captured ?? [] });
    captured = undefined;
  }
});
// The benchmark going away (its IPC channel closing) ends this process too.
process.on('disconnect', () => {
  void Promise.all([x.close(), xFar.close(), bitrix24.close(), nexudus.close()]).then(() => process.exit(0));
});
