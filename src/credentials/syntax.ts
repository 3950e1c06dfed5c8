import type { HeaderSyntax } from '../core/types.js';

/**
 * What the values of caller-credential headers may be. Checked before anything else reads them, so a
 * value never carries what could change the request it is put into upstream (a header, a JSON body):
 * no whitespace, no control characters, nothing outside ASCII, and a bounded length.
 */

/**
 * An access token: 1–2048 visible ASCII characters. That holds RFC 6750's bearer tokens, X's OAuth 2
 * tokens (about 100 characters) and Bitrix24's (about 70) with room to spare. A space is refused too,
 * which is also how a header sent twice shows (Node joins the copies with ", ").
 */
export const TOKEN_SYNTAX: HeaderSyntax = {
  pattern: /^[\x21-\x7e]+$/,
  maxLength: 2048,
  expected: '1 to 2048 visible ASCII characters, without spaces',
};

/** A name of something configured here (a Bitrix24 portal): 1–253 printable ASCII characters. */
export const NAME_SYNTAX: HeaderSyntax = {
  pattern: /^[\x20-\x7e]+$/,
  maxLength: 253,
  expected: '1 to 253 printable ASCII characters',
};

/** Whether `value` is of `syntax`. */
export function matches(syntax: HeaderSyntax, value: string): boolean {
  return value.length > 0 && value.length <= syntax.maxLength && syntax.pattern.test(value);
}
