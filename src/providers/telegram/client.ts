import { __tlReaderMap, __tlWriterMap, TlBinaryReader, TlBinaryWriter } from '@mtcute/core/utils.js';
import { Long, tl } from '@mtcute/node';
import type { Logger } from 'pino';
import { type Clock, systemClock } from '../../core/clock.js';
import { abandoned } from '../../core/errors.js';
import type { RetryPolicy } from '../../core/settings.js';
import { countUpstreamRequest, upstreamDuration } from '../../telemetry/metrics.js';
import { upstreamAttemptObserver, upstreamLogger } from '../../telemetry/operation.js';
import { type AttemptStatus, traceUpstreamCall } from '../../telemetry/tracing.js';
import { HiddenLimitBudget } from '../../upstream/call-budget.js';
import { type AttemptOutcome, callWithRetries, type Failure } from '../../upstream/call-with-retries.js';
import type { Circuit } from '../../upstream/circuit.js';
import { TELEGRAM } from './id.js';
import type { TelegramRpc } from './transport.js';
import type { TelegramApiUser } from './wire.js';

export interface TelegramClientOptions {
  rpc: TelegramRpc;
  /** Bots may name a user they have never seen with access_hash 0; user accounts may not. */
  isBot: boolean;
  /** Most users one `users.getUsers` asks for (docs/providers/telegram.md, "Telegram"). */
  maxIdsPerCall: number;
  /**
   * Retries: `maxTotalWaitMs` is the FLOOD_WAIT threshold — a FLOOD_WAIT_X of at most that many
   * milliseconds is waited out and retried; a longer one fails at once as RATE_LIMITED with `retryAfter`.
   */
  retry: RetryPolicy;
  timeoutMs: number;
  logger: Logger;
  clock?: Clock;
  circuit?: Circuit;
}

/**
 * The Telegram RPCs this subgraph makes, each counted in the upstream metrics, retried through the
 * shared retry loop, and failing as a `ProviderError` with the contract's codes. mtcute's own flood
 * waiting is off (`floodSleepThreshold: 0`) so that every RPC actually sent is counted here.
 */
export class TelegramClient {
  /** Usernames nobody has, until when to believe it (epoch ms): Telegram flood-limits resolveUsername hard. */
  private readonly misses = new Map<string, number>();

  private prepared: Promise<void> | undefined;

  private readonly clock: Clock;
  /** Telegram's limits are hidden: what its FLOOD_WAITs teach the budget planner (`HiddenLimitBudget`). */
  readonly budget: HiddenLimitBudget;

  constructor(private readonly options: TelegramClientOptions) {
    this.clock = options.clock ?? systemClock;
    this.budget = new HiddenLimitBudget(this.clock);
  }

  private peers(): Promise<TelegramRpc['storage']['peers']> {
    this.prepared ??= this.options.rpc.prepare();
    return this.prepared.then(() => this.options.rpc.storage.peers);
  }

  get maxIdsPerCall(): number {
    return this.options.maxIdsPerCall;
  }

  /**
   * A user as the record cache keeps it: MTProto's own binary form, base64. A user is not plain JSON
   * (64-bit access hashes, byte strings), and TL's serialization is exact and compact.
   */
  encodeUser(user: TelegramApiUser): string {
    return Buffer.from(TlBinaryWriter.serializeObject(__tlWriterMap, user)).toString('base64');
  }

  /** The user `encodeUser` kept; throws when `stored` is not one (the cache then counts a miss). */
  decodeUser(stored: unknown): TelegramApiUser {
    if (typeof stored !== 'string') throw new TypeError('not an encoded Telegram user');
    const user = TlBinaryReader.deserializeObject<tl.TlObject>(__tlReaderMap, Buffer.from(stored, 'base64'));
    if (user._ !== 'user') throw new TypeError('not an encoded Telegram user');
    return user as TelegramApiUser;
  }

  /** One `users.getUsers` RPC for these users (the caller chunks). Unknown users are simply absent. */
  getUsers(users: readonly tl.TypeInputUser[], signal?: AbortSignal): Promise<tl.TypeUser[]> {
    return this.call('users.getUsers', { _: 'users.getUsers', id: [...users] }, users.length, signal);
  }

  /**
   * `contacts.resolveUsername` for a normalized username: the user, or `undefined` when no one has it.
   * Found users land in the peer cache (mtcute stores every user a response carries), so the next
   * lookup of the name needs no resolution; misses are remembered for `MISS_TTL_MS` (whether or not the
   * record cache is on: this is flood protection). Concurrent requests share one call through the coalescer.
   */
  async resolveUsername(username: string, signal?: AbortSignal): Promise<TelegramApiUser | undefined> {
    const missUntil = this.misses.get(username);
    if (missUntil !== undefined && missUntil > this.clock.now()) return undefined;
    try {
      const resolved = await this.call('contacts.resolveUsername', { _: 'contacts.resolveUsername', username }, 1, signal);
      if (resolved.peer._ !== 'peerUser') return undefined; // a channel or group, not a user
      const userId = resolved.peer.userId;
      return resolved.users.find((u): u is TelegramApiUser => u._ === 'user' && u.id === userId);
    } catch (error) {
      if (!(error instanceof UsernameNotFound)) throw error;
      if (this.misses.size >= 10_000) this.misses.clear(); // bounded
      this.misses.set(username, this.clock.now() + MISS_TTL_MS);
      return undefined;
    }
  }

  /**
   * The InputUser to name `id` with: from the peer cache (persisted with the session), else, for a
   * bot, access_hash 0. `undefined` when this account has no way to name the user.
   */
  async inputUser(id: number): Promise<tl.TypeInputUser | undefined> {
    const peer = await (await this.peers()).getById(id);
    if (peer?._ === 'inputPeerUser') return { _: 'inputUser', userId: peer.userId, accessHash: peer.accessHash };
    if (peer?._ === 'inputPeerUserFromMessage')
      return { _: 'inputUserFromMessage', peer: peer.peer, msgId: peer.msgId, userId: peer.userId };
    return this.options.isBot ? { _: 'inputUser', userId: id, accessHash: Long.ZERO } : undefined;
  }

  /** The id of a username the peer cache knows (usernames seen in earlier responses), without an RPC. */
  async cachedIdForUsername(username: string): Promise<number | undefined> {
    const peer = await (await this.peers()).getByUsername(username);
    return peer?._ === 'inputPeerUser' ? peer.userId : undefined;
  }

  private call<M extends 'users.getUsers' | 'contacts.resolveUsername'>(
    method: M,
    request: tl.FindByName<tl.RpcMethod, M>,
    ids: number,
    signal?: AbortSignal,
  ): Promise<tl.RpcCallReturn[M]> {
    const { retry, circuit } = this.options;
    // Retries name the operations waiting for this RPC (docs/operations.md, "Tracing and logs").
    const logger = upstreamLogger(signal, this.options.logger);
    // One span per RPC call (its attempts an attribute); each RPC sent counts for the operations waiting on it.
    return traceUpstreamCall({ provider: TELEGRAM.name, method, ids }, upstreamAttemptObserver(signal, TELEGRAM.name), (sent) => {
      const call = () =>
        callWithRetries({ provider: TELEGRAM, label: method, policy: retry, logger, clock: this.clock, signal }, () =>
          this.attempt(method, request, signal, sent),
        );
      return circuit === undefined ? call() : circuit.run(call);
    });
  }

  private async attempt<M extends 'users.getUsers' | 'contacts.resolveUsername'>(
    method: M,
    request: tl.FindByName<tl.RpcMethod, M>,
    signal: AbortSignal | undefined,
    sent: (status: AttemptStatus) => void,
  ): Promise<AttemptOutcome<tl.RpcCallReturn[M]>> {
    const { timeoutMs, rpc } = this.options;
    const count = (status: AttemptStatus) => {
      countUpstreamRequest(TELEGRAM, method, status);
      sent(status);
    };
    const started = performance.now();
    try {
      const message: tl.RpcMethod = request;
      const value = (await rpc.call<tl.RpcMethod>(message, {
        floodSleepThreshold: 0,
        maxRetryCount: 0,
        timeout: timeoutMs,
        abortSignal: signal,
      })) as tl.RpcCallReturn[M];
      count(200);
      upstreamDuration.observe({ provider: TELEGRAM.name, method }, (performance.now() - started) / 1000);
      return { ok: true, value };
    } catch (error) {
      if (signal?.aborted) {
        count('aborted');
        throw abandoned(TELEGRAM, signal);
      }
      const failure = classifyTelegramError(error);
      count(error instanceof tl.RpcError ? error.code : 'error');
      if (failure !== 'username-not-found' && failure.code === 'RATE_LIMITED' && failure.waitMs !== undefined)
        this.budget.flooded(failure.waitMs);
      if (failure === 'username-not-found') throw new UsernameNotFound();
      return { ok: false, failure };
    }
  }

  close(): Promise<void> {
    return this.options.rpc.close();
  }
}

class UsernameNotFound extends Error {}

const MISS_TTL_MS = 10 * 60 * 1000;

/**
 * FLOOD_WAIT_X and its relatives: "wait X seconds". mtcute parses the ones it knows into a template
 * text (`FLOOD_WAIT_%d`) plus `seconds`; others keep the number in the text.
 */
const WAIT_TEMPLATE = /^(?:FLOOD_WAIT|FLOOD_PREMIUM_WAIT|SLOWMODE_WAIT|FLOOD_TEST_PHONE_WAIT)_%d$/;
const WAIT_ERROR = /^(?:FLOOD_WAIT|FLOOD_PREMIUM_WAIT|SLOWMODE_WAIT|FLOOD_TEST_PHONE_WAIT)_(\d+)$/;

function waitSeconds(error: tl.RpcError): number | undefined {
  const seconds = (error as { seconds?: unknown }).seconds;
  if (WAIT_TEMPLATE.test(error.text) && typeof seconds === 'number') return seconds;
  const match = WAIT_ERROR.exec(error.text);
  return match ? Number(match[1]) : undefined;
}
const AUTH_ERRORS = new Set([
  'AUTH_KEY_UNREGISTERED',
  'AUTH_KEY_INVALID',
  'AUTH_KEY_PERM_EMPTY',
  'SESSION_REVOKED',
  'SESSION_EXPIRED',
  'USER_DEACTIVATED',
  'USER_DEACTIVATED_BAN',
  'SESSION_PASSWORD_NEEDED',
  'ACCESS_TOKEN_INVALID',
  'ACCESS_TOKEN_EXPIRED',
]);

/**
 * How an RPC failure maps to the error codes: 420 FLOOD_WAIT_X and its kin are waits, 401 and the
 * AUTH_KEY/SESSION family are the credentials, other 400s the input, 500 RPC_CALL_FAIL and timeouts
 * Telegram's side (worth another try).
 */
export function classifyTelegramError(error: unknown): Failure | 'username-not-found' {
  if (!(error instanceof tl.RpcError)) {
    // A transport failure or a timeout of mtcute's: the connection may come back.
    return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE' };
  }
  const wait = waitSeconds(error);
  if (wait !== undefined) return { kind: 'retry', code: 'RATE_LIMITED', waitMs: wait * 1000 };
  if (error.text === 'USERNAME_NOT_OCCUPIED' || error.text === 'USERNAME_INVALID') return 'username-not-found';
  // mtcute fails an RPC whose `timeout` passed as a 400 TIMEOUT: Telegram did not answer, the input was fine.
  if (error.text === 'TIMEOUT') return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE' };
  if (error.code === 401 || AUTH_ERRORS.has(error.text)) return { kind: 'fail', code: 'UNAUTHENTICATED' };
  if (error.code === 400) return { kind: 'fail', code: 'BAD_USER_INPUT' };
  // 500 RPC_CALL_FAIL, -503 Timeout, "All workers are busy": Telegram's side, worth another try.
  return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE' };
}
