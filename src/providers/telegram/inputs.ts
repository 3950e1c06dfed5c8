import type { IdArgument } from '../../guard/input-guard.js';
import { TELEGRAM_USERNAME_PATTERN, isTelegramId } from './wire.js';

/** Telegram's root-field arguments and what a valid value of each is. */
export const telegramIdArguments: readonly IdArgument[] = [
  {
    field: 'telegramUsers',
    argument: 'ids',
    provider: 'telegram',
    isValid: isTelegramId,
    expected: 'a Telegram user id (a positive integer up to 2^53-1)',
  },
  {
    field: 'telegramUsers',
    argument: 'usernames',
    provider: 'telegram',
    isValid: (name) => TELEGRAM_USERNAME_PATTERN.test(name),
    expected: 'a Telegram username (4-32 letters, digits or _, starting with a letter)',
  },
];
