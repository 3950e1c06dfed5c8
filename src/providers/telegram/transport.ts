import type { BaseTelegramClient } from '@mtcute/node';

/** What this provider needs of an MTProto client: mtcute's `call` and its persistent peer cache. */
export interface TelegramRpc {
  call: BaseTelegramClient['call'];
  /** Opens the storage (session, peer cache); mtcute needs it before the peer cache can be read. */
  prepare(): Promise<void>;
  storage: { peers: Pick<BaseTelegramClient['storage']['peers'], 'getById' | 'getByUsername'> };
  /** Closes the connection and the storage. */
  close(): Promise<void>;
}

/** What the emulator hands the client instead of a network connection: its RPCs, as this kind of account. */
export interface TelegramTransport {
  rpc: TelegramRpc;
  isBot: boolean;
}

/**
 * Whether a `ClientContext.transport` is one of Telegram's (an emulator in process, in the demo or the
 * tests): looked at by shape, as this module must not load mtcute to know.
 */
export function isTelegramTransport(value: unknown): value is TelegramTransport {
  if (typeof value !== 'object' || value === null || !('rpc' in value) || !('isBot' in value)) return false;
  const { rpc, isBot } = value;
  if (typeof isBot !== 'boolean' || typeof rpc !== 'object' || rpc === null) return false;
  return (
    'call' in rpc &&
    typeof rpc.call === 'function' &&
    'prepare' in rpc &&
    typeof rpc.prepare === 'function' &&
    'close' in rpc &&
    typeof rpc.close === 'function' &&
    'storage' in rpc &&
    typeof rpc.storage === 'object'
  );
}
