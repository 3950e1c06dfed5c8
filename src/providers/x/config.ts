import { z } from 'zod';
import { httpUrl, secret } from '../../core/env.js';
import type { Env } from '../../core/types.js';

/** X is on when `X_BEARER_TOKEN` is set (an app-only or OAuth 2 user token). */
export interface XConfig {
  bearerToken: string;
  baseUrl: string;
}

export const xConfig = z
  .object({
    X_BEARER_TOKEN: secret.describe(
      "The X API v2 bearer token the subgraph calls X with: the app's (app-only) or an OAuth 2.0 user token. Setting it " +
        'turns X on; set but blank is refused.',
    ),
    X_API_BASE_URL: httpUrl('https://api.x.com').describe("The origin X's API is called at, an http(s) URL."),
  })
  .transform((vars): XConfig | undefined =>
    vars.X_BEARER_TOKEN === undefined ? undefined : { bearerToken: vars.X_BEARER_TOKEN, baseUrl: vars.X_API_BASE_URL },
  ) satisfies z.ZodType<XConfig | undefined, Env>;
