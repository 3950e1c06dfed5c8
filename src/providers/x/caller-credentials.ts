import { TOKEN_SYNTAX } from '../../credentials/syntax.js';
import type { CallerCredentialSpec } from '../provider.js';
import type { XClient } from './client.js';

/**
 * A caller's own X OAuth 2.0 user-context token (docs/access-control.md, "Per-caller credentials"), in `x-caller-x-token`
 * (X_CALLER_TOKEN_HEADER). Its lookups are made as that user (`Authorization: Bearer <token>`), spend
 * that user's rate limits rather than the app's, and see what that user may see: the posts of a
 * protected account it follows, say.
 */
export const xCallerCredentials: CallerCredentialSpec<XClient> = {
  headers: { token: { variable: 'X_CALLER_TOKEN_HEADER', defaultName: 'x-caller-x-token', syntax: TOKEN_SYNTAX } },
  read: ({ token }) => new Map(token === undefined ? [] : [['', token]]),
};
