import type { IdArgument } from '../../guard/input-guard.js';
import { X_ID_PATTERN, X_USERNAME_PATTERN } from './wire.js';

/** X's root-field arguments and what a valid value of each is (upstreams.md: X's own patterns). */
export const xIdArguments: readonly IdArgument[] = [
  { field: 'xUsers', argument: 'ids', provider: 'x', isValid: (id) => X_ID_PATTERN.test(id), expected: 'an X user id (1-19 digits)' },
  {
    field: 'xUsersByUsername',
    argument: 'usernames',
    provider: 'x',
    isValid: (name) => X_USERNAME_PATTERN.test(name),
    expected: 'an X username (1-15 letters, digits or _)',
  },
];
