import type { Conformance } from '../kit.js';
import type { TelegramEmulatorStartOptions } from './emulator/index.js';
import type { TelegramEmulator } from './emulator/server.js';

/**
 * Telegram for the conformance suite (test/conformance/): `users.getUsers` over MTProto, in process, and
 * how Telegram fails. MTProto has no HTTP body, so none of HTTP's faults: its frames are length-prefixed and
 * authenticated, mtcute refuses a malformed one before any caller sees it, and a lost connection is a timeout.
 */
export const telegramConformance: Conformance<TelegramEmulatorStartOptions | undefined, TelegramEmulator> = {
  root: { field: 'telegramUsers', argument: 'ids' },
  entity: { typename: 'TelegramUser' },
  known: (count, from = 1) => Array.from({ length: count }, (_, i) => String(from + i)),
  unknown: '20000',
  invalid: ['0', '01', '1.5', String(Number.MAX_SAFE_INTEGER + 1)],
  batching: { idsPerCall: 100 },
  // A Telegram user comes whole: no field is asked for.
  selections: [
    { selection: 'id', asks: '' },
    { selection: 'id displayName username bot premium', asks: '' },
  ],
  lookups: (telegram) =>
    telegram.rpcs.filter((rpc) => rpc.method === 'users.getUsers').map((rpc) => ({ ids: (rpc.ids ?? []).map(String), asks: '' })),
  requests: (telegram) => telegram.rpcs.map((rpc) => rpc.method),
  lookupRequest: 'users.getUsers',
  slow: (telegram, ms) => telegram.faults.always({ kind: 'slow', ms }),
  faults: ({ attempts, timeoutMs }) => {
    const every = Array.from({ length: attempts }, () => 'users.getUsers');
    return [
      {
        name: '401 AUTH_KEY_UNREGISTERED',
        inject: (telegram) => telegram.failNext(1, 401, 'AUTH_KEY_UNREGISTERED'),
        code: 'UNAUTHENTICATED',
        requests: ['users.getUsers'],
      },
      {
        name: '420 FLOOD_WAIT_60 (over the 5 s threshold)',
        inject: (telegram) => telegram.failNext(1, 420, 'FLOOD_WAIT_60'),
        code: 'RATE_LIMITED',
        retryAfter: 60,
        // The budget planner holds every call until the wait is over (HiddenLimitBudget).
        remembered: true,
        requests: ['users.getUsers'],
      },
      {
        name: '500 RPC_CALL_FAIL, every attempt',
        inject: (telegram) => telegram.failNext(attempts, 500, 'RPC_CALL_FAIL'),
        code: 'UPSTREAM_UNAVAILABLE',
        requests: every,
      },
      {
        name: "-503 Timeout (Telegram's own), every attempt",
        inject: (telegram) => telegram.failNext(attempts, -503, 'Timeout'),
        code: 'UPSTREAM_UNAVAILABLE',
        requests: every,
      },
      {
        // Was a bug: mtcute fails an RPC whose `timeout` passed with RpcError(400, 'TIMEOUT'), which was read as
        // the caller's input: BAD_USER_INPUT after one attempt.
        name: `timeout (> ${timeoutMs} ms), every attempt`,
        inject: (telegram) => telegram.failNext(attempts, { kind: 'slow', ms: 10_000 }),
        env: { UPSTREAM_TIMEOUT_MS: String(timeoutMs) },
        code: 'UPSTREAM_UNAVAILABLE',
        requests: every,
      },
    ];
  },
  secrets: ['emulated-bot-token'],
  upstreamText: ['AUTH_KEY_UNREGISTERED', 'FLOOD_WAIT', 'RPC_CALL_FAIL', 'TIMEOUT'],
};
