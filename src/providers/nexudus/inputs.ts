import type { IdArgument } from '../../guard/input-guard.js';
import { NEXUDUS_ID_PATTERN } from './wire.js';

/** Nexudus's root-field arguments and what a valid value of each is. */
export const nexudusIdArguments: readonly IdArgument[] = [
  {
    field: 'nexudusUsers',
    argument: 'ids',
    provider: 'nexudus',
    isValid: (id) => NEXUDUS_ID_PATTERN.test(id),
    expected: 'a Nexudus user id (a positive integer)',
  },
];
