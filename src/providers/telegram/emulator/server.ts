/**
 * An in-process stand-in for Telegram's MTProto API, answering the two RPCs this subgraph makes
 * (`users.getUsers`, `contacts.resolveUsername`) over the deterministic demo users, behind a real
 * mtcute `BaseTelegramClient` (its peer storage included). No network, no auth key.
 *
 * It mimics what a client must cope with on Telegram's MTProto API: access hashes per account (a wrong one silently drops the user), bots' access_hash 0, users that are
 * omitted or come back as `userEmpty`, answers NOT in request order, `RpcError`s (injectable, like
 * FLOOD_WAIT_X), and answers slower than the caller's `timeout` (injectable per RPC, or `latencyMs`),
 * which fail as mtcute fails them. Answers go through mtcute's TL writer and reader, so callers get
 * exactly the objects mtcute would parse off the wire (absent flags read as `false`), fresh on every call.
 *
 * There is no HTTP here, so the HTTP emulators' broken bodies (resets mid-body, truncated or HTML or
 * oversize bodies) have no counterpart: MTProto frames are authenticated and length-prefixed, and
 * mtcute's TL reader refuses a malformed one before any caller sees it.
 */

import { __tlReaderMap, __tlWriterMap, TlBinaryReader, TlBinaryWriter } from '@mtcute/core/utils.js';
import { BaseTelegramClient, type ITelegramStorageProvider, MemoryStorage, type MustEqual, type RpcCallOptions, tl } from '@mtcute/node';
import { FaultQueue, type SlowFault } from '../../../emulators/fault-queue.js';
import { RequestLog } from '../../../emulators/request-log.js';
import {
  demoAccessHash,
  demoIsDeleted,
  demoTelegramSelf,
  demoTelegramUser,
  demoUserIdForUsername,
  TELEGRAM_DEMO_MAX_ID,
  TELEGRAM_DEMO_SELF_ID,
} from './demo-data.js';

export interface TelegramEmulatorOptions {
  /** Users `1..maxKnownId` exist. Default TELEGRAM_DEMO_MAX_ID. */
  maxKnownId?: number;
  /** `users.getUsers` answers `userEmpty{id}` for these (whatever the access hash). */
  emptyIds?: Iterable<number>;
  /**
   * Default true: access_hash 0 names any known user, as Telegram lets bots do for some users.
   * false: 0 is treated like a wrong hash (the user is omitted), as for a user account.
   */
  acceptZeroAccessHash?: boolean;
  /** Artificial delay before every answer. Default 0. */
  latencyMs?: number;
  /** Keep every RPC in `rpcs` (default true, for tests); the long-running demo turns it off. */
  recordRpcs?: boolean;
}

export interface TelegramEmulatorRpc {
  /** The TL method name, e.g. `users.getUsers`. */
  method: string;
  /** `users.getUsers`: the user ids asked for, in request order, duplicates kept (`inputUserSelf` as the self id). */
  ids?: number[];
  /** `contacts.resolveUsername`: the username as sent. */
  username?: string;
  /**
   * `ok`, or the error text as Telegram sent it (e.g. `FLOOD_WAIT_7`, not mtcute's `FLOOD_WAIT_%d`);
   * `TIMEOUT` when the caller's `timeout` passed before the answer (mtcute's own error), `aborted` when
   * the caller's signal did. `ok` while the answer is still pending.
   */
  outcome: 'ok' | string;
}

/** How the caller waits for an RPC: mtcute's `RpcCallOptions.timeout` and `abortSignal`. */
export interface TelegramRespondOptions {
  /** Milliseconds; an answer later than this fails the call with 400 TIMEOUT, as mtcute does. */
  timeoutMs?: number;
  /** Aborting it fails the call with the signal's reason, as mtcute does. */
  signal?: AbortSignal;
}

/** What the Telegram emulator injects: an RPC error (Telegram's code and text), or a late answer. */
export type TelegramFault = { kind: 'rpc-error'; code: number; text: string } | SlowFault;

/** `users.getUsers` refuses more InputUsers than this (Telegram documents no limit; clients use 50-200). */
export const TELEGRAM_EMULATOR_MAX_IDS = 200;
/** What `contacts.resolveUsername` accepts at all (5-32 to register, 4 exist as collectibles). */
const USERNAME_FORMAT = /^[A-Za-z][A-Za-z0-9_]{3,31}$/;

export class TelegramEmulator {
  private readonly maxKnownId: number;
  private readonly emptyIds: ReadonlySet<number>;
  private readonly acceptZeroAccessHash: boolean;
  private readonly latencyMs: number;
  private readonly log: RequestLog<TelegramEmulatorRpc>;
  /** Injected failures: one per upcoming RPC, or standing; a route is an RPC method (`users.getUsers`). */
  readonly faults = new FaultQueue<TelegramFault>();

  constructor(options: TelegramEmulatorOptions = {}) {
    this.maxKnownId = options.maxKnownId ?? TELEGRAM_DEMO_MAX_ID;
    this.emptyIds = new Set(options.emptyIds ?? []);
    this.acceptZeroAccessHash = options.acceptZeroAccessHash ?? true;
    this.latencyMs = options.latencyMs ?? 0;
    this.log = new RequestLog(options.recordRpcs ?? true);
  }

  /** Every RPC received, in arrival order (failures too, injected or not, and answers still pending). */
  get rpcs(): TelegramEmulatorRpc[] {
    return this.log.entries;
  }

  /** The next `count` RPCs (whatever they are) fail with `RpcError(code, text)`, after being recorded. */
  failNext(count: number, code: number, text: string): void;
  /** The next `count` RPCs answer `ms` late (after the latency): a caller's `timeout` passes first. */
  failNext(count: number, fault: SlowFault): void;
  failNext(count: number, what: number | SlowFault, text = ''): void {
    this.faults.add(count, typeof what === 'number' ? { kind: 'rpc-error', code: what, text } : what);
  }

  /** Clears `rpcs` and pending faults. */
  reset(): void {
    this.log.clear();
    this.faults.clear();
  }

  /**
   * Answers one RPC as Telegram would: records it, takes the next injected fault if any, waits
   * `latencyMs` (and a slow fault's delay), then throws the injected error if any, else the answer or
   * Telegram's error (`tl.RpcError` with the raw wire text). A caller's `timeout` or abort that comes
   * first ends the wait as mtcute ends it. Methods other than the two emulated ones fail with 400
   * INPUT_METHOD_INVALID (Telegram's error for a method it doesn't know), so an unexpected RPC is loud
   * rather than silently answered.
   */
  async respond(request: tl.RpcMethod, options: TelegramRespondOptions = {}): Promise<unknown> {
    const rpc = this.log.add({ method: request._, outcome: 'ok' });
    if (request._ === 'users.getUsers') rpc.ids = request.id.map(requestedId);
    if (request._ === 'contacts.resolveUsername') rpc.username = request.username;
    const fault = this.faults.next(request._);
    try {
      await delay(this.latencyMs + (fault?.kind === 'slow' ? fault.ms : 0), options);
    } catch (error) {
      rpc.outcome = error instanceof tl.RpcError ? error.text : 'aborted';
      throw error;
    }
    try {
      if (fault?.kind === 'rpc-error') throw new tl.RpcError(fault.code, fault.text);
      switch (request._) {
        case 'users.getUsers':
          return this.getUsers(request.id).map(viaWire);
        case 'contacts.resolveUsername':
          return viaWire(this.resolveUsername(request.username));
        default:
          throw new tl.RpcError(400, 'INPUT_METHOD_INVALID');
      }
    } catch (error) {
      rpc.outcome = error instanceof tl.RpcError ? error.text : String(error);
      throw error;
    }
  }

  private getUsers(inputs: readonly tl.TypeInputUser[]): tl.TypeUser[] {
    if (inputs.length > TELEGRAM_EMULATOR_MAX_IDS) throw new tl.RpcError(400, 'LIMIT_INVALID');
    // Keyed by id: a user named twice is answered once, the first time it is named.
    const found = new Map<number, tl.TypeUser>();
    for (const input of inputs) {
      const user = this.userFor(input);
      if (user !== undefined && !found.has(user.id)) found.set(user.id, user);
    }
    // Telegram matches by id, not by position: the reversed order breaks clients that assume otherwise.
    return [...found.values()].reverse();
  }

  /** The answer for one InputUser, or undefined when Telegram would leave it out. */
  private userFor(input: tl.TypeInputUser): tl.TypeUser | undefined {
    if (input._ === 'inputUserSelf') return demoTelegramSelf();
    // inputUserEmpty names nobody; inputUserFromMessage (min peers from a chat) is not emulated.
    if (input._ !== 'inputUser') return undefined;
    const id = input.userId;
    if (!this.isKnown(id)) return undefined;
    if (this.emptyIds.has(id)) return { _: 'userEmpty', id };
    const hashOk = input.accessHash.isZero() ? this.acceptZeroAccessHash : input.accessHash.eq(demoAccessHash(id));
    // A wrong access hash is not an error on users.getUsers: the user is just missing from the answer.
    return hashOk ? demoTelegramUser(id) : undefined;
  }

  private resolveUsername(username: string): tl.contacts.RawResolvedPeer {
    if (!USERNAME_FORMAT.test(username)) throw new tl.RpcError(400, 'USERNAME_INVALID');
    const id = demoUserIdForUsername(username, this.maxKnownId);
    if (id === undefined || !this.isKnown(id) || this.emptyIds.has(id) || demoIsDeleted(id)) {
      throw new tl.RpcError(400, 'USERNAME_NOT_OCCUPIED');
    }
    return { _: 'contacts.resolvedPeer', peer: { _: 'peerUser', userId: id }, chats: [], users: [demoTelegramUser(id)] };
  }

  private isKnown(id: number): boolean {
    return Number.isSafeInteger(id) && id >= 1 && id <= this.maxKnownId;
  }
}

/**
 * Waits `ms` (at once when 0) unless the caller stops waiting first: past `timeoutMs` it rejects with
 * RpcError(400, 'TIMEOUT'), which is how mtcute fails a call whose `timeout` passed; on abort, with the
 * signal's reason. The timer never outlives the wait.
 */
function delay(ms: number, { timeoutMs, signal }: TelegramRespondOptions): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timedOut = timeoutMs !== undefined && timeoutMs > 0 && timeoutMs < ms;
    const done = (settle: () => void) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    const onAbort = () => done(() => reject(signal?.reason));
    const timer = setTimeout(() => done(timedOut ? () => reject(new tl.RpcError(400, 'TIMEOUT')) : resolve), timedOut ? timeoutMs : ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function requestedId(input: tl.TypeInputUser): number {
  switch (input._) {
    case 'inputUser':
    case 'inputUserFromMessage':
      return input.userId;
    case 'inputUserSelf':
      return TELEGRAM_DEMO_SELF_ID;
    case 'inputUserEmpty':
      return 0;
  }
}

/** Writes a TL object and reads it back with mtcute's codecs: a fresh copy, shaped as off the wire. */
function viaWire<T extends tl.TlObject>(obj: T): T {
  return TlBinaryReader.deserializeObject<T>(__tlReaderMap, TlBinaryWriter.serializeObject(__tlWriterMap, obj));
}

/**
 * A BaseTelegramClient whose RPCs the emulator answers in-process, with mtcute's real peer storage
 * (MemoryStorage unless given). Close it with `destroy()`.
 *
 * Like mtcute's own `call`, it stores the peers of every answer (so access hashes and usernames are
 * learned) and throws Telegram's errors through `tl.RpcError.fromTl`: a `FLOOD_WAIT_7` on the wire
 * reaches the caller as text `FLOOD_WAIT_%d` with `seconds: 7`. mtcute's network middlewares (its
 * own flood-wait sleeping and 5xx retries) are not run: calls behave as with
 * `{ floodSleepThreshold: 0, maxRetryCount: 0 }`. `timeout` and `abortSignal` are honoured as mtcute
 * honours them: an answer slower than `timeout` fails the call with RpcError(400, 'TIMEOUT') (mtcute
 * resolves it as that `rpc_error`), an abort rejects it with the signal's reason.
 */
export function createEmulatedTelegramClient(
  emulator: TelegramEmulator,
  options: { storage?: ITelegramStorageProvider } = {},
): BaseTelegramClient {
  return new EmulatedTelegramClient(emulator, options.storage ?? new MemoryStorage());
}

class EmulatedTelegramClient extends BaseTelegramClient {
  constructor(
    private readonly emulator: TelegramEmulator,
    storage: ITelegramStorageProvider,
  ) {
    super({ apiId: 1, apiHash: 'emulated', storage, logLevel: 1, disableUpdates: true });
  }

  override async call<T extends tl.RpcMethod>(
    message: MustEqual<T, tl.RpcMethod>,
    params?: RpcCallOptions,
  ): Promise<tl.RpcCallReturn[T['_']]> {
    if (this.destroyed) throw new Error('Client is destroyed'); // mtcute's wording
    let result: unknown;
    try {
      result = await this.emulator.respond(message as tl.RpcMethod, { timeoutMs: params?.timeout, signal: params?.abortSignal });
    } catch (error) {
      // mtcute builds its RpcError from the wire's rpc_error, parsing arguments such as FLOOD_WAIT's seconds.
      if (error instanceof tl.RpcError) throw tl.RpcError.fromTl({ errorCode: error.code, errorMessage: error.text });
      throw error;
    }
    await this.storage.peers.updatePeersFrom(result as tl.TlObject | tl.TlObject[]);
    return result as tl.RpcCallReturn[T['_']];
  }
}
