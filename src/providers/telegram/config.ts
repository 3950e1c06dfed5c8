import { z } from 'zod';
import { credentialText, int, secret } from '../../core/env.js';
import type { ConfigIO, Env } from '../../core/types.js';

export interface TelegramConfig {
  apiId: number;
  apiHash: string;
  /** Set: the subgraph acts as this bot. Unset: as the user whose session `npm run telegram:login` saved. */
  botToken: string | undefined;
  /** SQLite file holding the session and the peer cache (id -> access_hash, usernames). */
  sessionPath: string;
  /** Users per `users.getUsers` RPC. */
  maxIdsPerCall: number;
  /** A FLOOD_WAIT of at most this many seconds is waited out; a longer one answers RATE_LIMITED. */
  floodWaitThresholdSeconds: number;
}

/**
 * Telegram is on when the app credentials are set and there is someone to act as: a bot token, or a
 * user session saved by `npm run telegram:login`. Half a configuration is an error, not "off".
 */
export function telegramConfig(io: ConfigIO): z.ZodType<TelegramConfig | undefined, Env> {
  return z
    .object({
      TELEGRAM_API_ID: credentialText
        .pipe(
          z
            .string()
            .regex(/^[1-9]\d{0,11}$/, 'must be the numeric api_id from my.telegram.org')
            .optional(),
        )
        .describe(
          "The app's numeric `api_id` from my.telegram.org (API development tools). With `TELEGRAM_API_HASH`, and a bot token " +
            'or a saved user session, it turns Telegram on; set but blank is refused.',
        ),
      TELEGRAM_API_HASH: secret
        .pipe(
          z
            .string()
            .regex(/^[0-9a-f]{32}$/i, 'must be the 32-character api_hash from my.telegram.org')
            .optional(),
        )
        .describe(
          "The app's `api_hash` from my.telegram.org, 32 hexadecimal characters: required with the other `TELEGRAM_` " +
            'credentials, and set but blank is refused.',
        ),
      TELEGRAM_BOT_TOKEN: secret
        .pipe(
          z
            .string()
            .regex(/^\d+:[A-Za-z0-9_-]{30,}$/, 'must be a bot token from @BotFather (<bot id>:<secret>)')
            .optional(),
        )
        .describe(
          'The token of the bot to act as, from @BotFather; set but blank is refused. Unset: act as the user whose session ' +
            '`npm run telegram:login` saved at `TELEGRAM_SESSION_PATH`, and with neither the start is refused.',
        ),
      TELEGRAM_SESSION_PATH: z
        .string()
        .optional()
        .transform((v) => v || 'telegram.session')
        .describe(
          'The SQLite file that holds the MTProto session and the peer cache (user id → access hash, usernames): keep it on ' +
            'a persistent volume. The container image sets `/data/telegram.session`.',
        ),
      TELEGRAM_MAX_IDS_PER_CALL: int(1, 200, 100).describe('Users asked per `users.getUsers` RPC, 1–200.'),
      TELEGRAM_FLOOD_WAIT_THRESHOLD_SECONDS: int(0, 600, 5).describe(
        'Most seconds one Telegram call may wait between its attempts in all, 0–600, in place of `UPSTREAM_MAX_RETRY_WAIT_MS`: ' +
          'a `FLOOD_WAIT_X` that fits is waited out and the call tried again, a longer one answers `RATE_LIMITED` with ' +
          '`retryAfter: X` at once. `0` waits nothing out, so Telegram calls are in effect not retried.',
      ),
    })
    .transform((vars, ctx): TelegramConfig | undefined => {
      if (vars.TELEGRAM_API_ID === undefined && vars.TELEGRAM_API_HASH === undefined && vars.TELEGRAM_BOT_TOKEN === undefined)
        return undefined;
      const missing = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
      if (vars.TELEGRAM_API_ID === undefined) missing('TELEGRAM_API_ID', 'required with the other TELEGRAM_* variables');
      if (vars.TELEGRAM_API_HASH === undefined) missing('TELEGRAM_API_HASH', 'required with the other TELEGRAM_* variables');
      if (vars.TELEGRAM_BOT_TOKEN === undefined && !io.exists(vars.TELEGRAM_SESSION_PATH)) {
        missing(
          'TELEGRAM_BOT_TOKEN',
          'set it to act as a bot, or run `npm run telegram:login` to save a user session at TELEGRAM_SESSION_PATH',
        );
      }
      if (vars.TELEGRAM_API_ID === undefined || vars.TELEGRAM_API_HASH === undefined) return z.NEVER;
      return {
        apiId: Number(vars.TELEGRAM_API_ID),
        apiHash: vars.TELEGRAM_API_HASH,
        botToken: vars.TELEGRAM_BOT_TOKEN,
        sessionPath: vars.TELEGRAM_SESSION_PATH,
        maxIdsPerCall: vars.TELEGRAM_MAX_IDS_PER_CALL,
        floodWaitThresholdSeconds: vars.TELEGRAM_FLOOD_WAIT_THRESHOLD_SECONDS,
      };
    });
}
