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
      TELEGRAM_API_ID: credentialText.pipe(
        z
          .string()
          .regex(/^[1-9]\d{0,11}$/, 'must be the numeric api_id from my.telegram.org')
          .optional(),
      ),
      TELEGRAM_API_HASH: secret.pipe(
        z
          .string()
          .regex(/^[0-9a-f]{32}$/i, 'must be the 32-character api_hash from my.telegram.org')
          .optional(),
      ),
      TELEGRAM_BOT_TOKEN: secret.pipe(
        z
          .string()
          .regex(/^\d+:[A-Za-z0-9_-]{30,}$/, 'must be a bot token from @BotFather (<bot id>:<secret>)')
          .optional(),
      ),
      TELEGRAM_SESSION_PATH: z
        .string()
        .optional()
        .transform((v) => v || 'telegram.session'),
      TELEGRAM_MAX_IDS_PER_CALL: int(1, 200, 100),
      TELEGRAM_FLOOD_WAIT_THRESHOLD_SECONDS: int(0, 600, 5),
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
