import { TelegramClient as MtcuteClient } from '@mtcute/node';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import type { UpstreamSettings } from '../../core/settings.js';
import type { Circuit } from '../../upstream/circuit.js';
import { TelegramClient } from './client.js';
import type { TelegramConfig } from './config.js';
import type { TelegramRpc } from './transport.js';

/**
 * The real MTProto connection (mtcute), for a configured bot or a saved user session. The session
 * and the peer cache live in one SQLite file at `TELEGRAM_SESSION_PATH`, so a restart keeps both.
 *
 * Connecting (and, for a bot, logging in) happens on the first RPC rather than at start-up, so the
 * subgraph comes up even while Telegram is out of reach; a failed start is retried by the next call,
 * and the failure itself reaches the caller as UNAUTHENTICATED or UPSTREAM_UNAVAILABLE.
 */
export function connectTelegram(
  config: TelegramConfig,
  upstream: UpstreamSettings,
  logger: Logger,
  clock?: Clock,
  circuit?: Circuit,
): TelegramClient {
  const mtcute = new MtcuteClient({
    apiId: config.apiId,
    apiHash: config.apiHash,
    storage: config.sessionPath,
    disableUpdates: true,
    logLevel: 1, // errors only: mtcute logs to the console, outside pino
  });
  let started: Promise<void> | undefined;
  const start = (): Promise<void> => {
    started ??= (
      config.botToken === undefined ? mtcute.connect() : mtcute.start({ botToken: config.botToken }).then(() => undefined)
    ).catch((error: unknown) => {
      started = undefined;
      throw error;
    });
    return started;
  };
  const rpc: TelegramRpc = {
    storage: mtcute.storage,
    prepare: () => mtcute.prepare(),
    call: (async (request: never, params?: never) => {
      await start();
      return mtcute.call(request, params);
    }) as TelegramRpc['call'],
    close: () => mtcute.destroy(),
  };
  return telegramClient(rpc, { isBot: config.botToken !== undefined, config, upstream, logger, clock, circuit });
}

/** The provider's client over any MTProto `rpc` (mtcute's, or the emulator's in-process one). */
export function telegramClient(
  rpc: TelegramRpc,
  options: {
    isBot: boolean;
    config: Pick<TelegramConfig, 'maxIdsPerCall' | 'floodWaitThresholdSeconds'>;
    upstream: UpstreamSettings;
    logger: Logger;
    clock?: Clock;
    circuit?: Circuit;
  },
): TelegramClient {
  return new TelegramClient({
    rpc,
    isBot: options.isBot,
    maxIdsPerCall: options.config.maxIdsPerCall,
    // The FLOOD_WAIT threshold is the retry loop's cap on waiting.
    retry: { ...options.upstream.retry, maxTotalWaitMs: options.config.floodWaitThresholdSeconds * 1000 },
    timeoutMs: options.upstream.timeoutMs,
    logger: options.logger,
    clock: options.clock,
    circuit: options.circuit,
  });
}
