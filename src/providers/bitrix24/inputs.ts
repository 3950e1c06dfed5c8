import type { IdArgument } from '../../guard/input-guard.js';
import { BITRIX_ID_PATTERN } from './wire.js';

/** Bitrix24's root-field arguments and what a valid value of each is. */
export const bitrix24IdArguments: readonly IdArgument[] = [
  {
    field: 'bitrix24Users',
    argument: 'ids',
    provider: 'bitrix24',
    isValid: (id) => BITRIX_ID_PATTERN.test(id),
    expected: 'a Bitrix24 user id (a positive integer)',
  },
];
