import type { Logger } from 'pino';
import { type Clock, systemClock } from '../../core/clock.js';
import { ProviderError } from '../../core/errors.js';
import { path, type UpstreamClient } from '../../upstream/http.js';
import { type IssuedToken, SharedToken, type SharedTokenReplicas } from '../../upstream/shared-token.js';
import { parseUpstreamBody } from '../../upstream/wire-check.js';
import { NEXUDUS } from './id.js';
import { NexudusGrant } from './wire.js';

export type NexudusCredentials = { kind: 'token'; token: string } | { kind: 'password'; username: string; password: string };

/** Renew a token this long before it expires, at most (and at most a tenth of its lifetime). */
const RENEW_MARGIN_MS = 5 * 60_000;

/**
 * The bearer token of one Nexudus account. A configured `NEXUDUS_TOKEN` is used as is (refused, it
 * cannot be replaced). Otherwise `POST /api/token` with the password grant, form-encoded as Nexudus's
 * OAuth server requires; later tokens come from the latest refresh token while it works (single-use:
 * `SharedToken` keeps the one that came with the token, shared by the replicas with `replicas`), else
 * the password again.
 */
export function nexudusToken(
  credentials: NexudusCredentials,
  http: UpstreamClient,
  logger: Logger,
  clock: Clock = systemClock,
  replicas?: SharedTokenReplicas,
): SharedToken {
  if (credentials.kind === 'token') {
    return new SharedToken(
      NEXUDUS,
      async (refused) => {
        if (refused !== undefined) throw new ProviderError({ code: 'UNAUTHENTICATED', provider: NEXUDUS });
        return { token: credentials.token };
      },
      undefined,
      () => clock.now(),
    );
  }

  const grant = async (form: Record<string, string>): Promise<IssuedToken> => {
    const response = await http.send({
      method: 'POST',
      label: 'POST /api/token',
      path: path`/api/token`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
    });
    const body = parseUpstreamBody(NexudusGrant, response.body, { provider: NEXUDUS, method: 'POST /api/token', logger });
    const lifetimeMs = (body.expires_in ?? 3600) * 1000;
    return {
      token: body.access_token,
      renewInMs: lifetimeMs - Math.min(RENEW_MARGIN_MS, lifetimeMs / 10),
      ...(body.refresh_token === undefined ? {} : { refreshToken: body.refresh_token }),
    };
  };

  return new SharedToken(
    NEXUDUS,
    async (_previous, refreshToken) => {
      if (refreshToken !== undefined) {
        try {
          return await grant({ grant_type: 'refresh_token', refresh_token: refreshToken });
        } catch (error) {
          // A refresh token Nexudus refuses: the password still works. Anything else (an outage, a 409) is
          // not the refresh token's fault, and a password grant would only double the calls.
          if (!(error instanceof ProviderError && error.code === 'UNAUTHENTICATED')) throw error;
        }
      }
      return grant({ grant_type: 'password', username: credentials.username, password: credentials.password });
    },
    undefined,
    () => clock.now(),
    replicas,
  );
}
