import { z } from 'zod';
import { httpUrl, int, secret, text } from '../../core/env.js';
import type { ConfigIO, Env } from '../../core/types.js';

/** How to reach one portal: its incoming webhook URL (the URL is the secret), or OAuth tokens. */
export type PortalAccess =
  | { kind: 'webhook'; webhookUrl: string }
  | {
      kind: 'oauth';
      portalUrl: string;
      accessToken: string;
      /** With the app's client id and secret, lets an expired access token be renewed. */
      refresh?: { refreshToken: string; clientId: string; clientSecret: string; oauthUrl: string };
    };

/** A portal's own leaky bucket: `perSecond` drained, at most `burst` at once (2 and 50 on standard plans). */
export interface PortalRate {
  perSecond: number;
  burst: number;
}

export interface Bitrix24PortalConfig {
  /** How GraphQL names the portal (`Bitrix24User.portal`, the `portal` argument): by default its host. */
  name: string;
  access: PortalAccess;
  rate: PortalRate;
}

export interface Bitrix24Config {
  portals: Bitrix24PortalConfig[];
  /** Ids per `im.user.list.get` command. */
  maxIdsPerCall: number;
}

/** A Bitrix24 incoming webhook URL, and a portal address: the pattern and what to say when it does not match. */
const WEBHOOK = [/^https?:\/\/[^/\s]+\/rest\/\d+\/[^/\s]+\/?$/, 'must look like https://<portal>/rest/<user id>/<secret>/'] as const;
const PORTAL = [/^https?:\/\/[^/\s]+\/?$/, 'must be the portal address, e.g. https://acme.bitrix24.com'] as const;

/** One portal in BITRIX24_PORTALS_FILE: a webhook, or OAuth tokens; an optional name and rate. */
const portalEntry = z
  .object({
    name: z.string().min(1).optional(),
    webhookUrl: z
      .string()
      .regex(...WEBHOOK)
      .optional(),
    portalUrl: z
      .string()
      .regex(...PORTAL)
      .optional(),
    accessToken: z.string().min(1).optional(),
    refreshToken: z.string().min(1).optional(),
    clientId: z.string().min(1).optional(),
    clientSecret: z.string().min(1).optional(),
    rate: z.object({ perSecond: z.number().positive(), burst: z.number().int().positive() }).optional(),
  })
  .strict()
  .refine((p) => (p.webhookUrl === undefined) !== (p.portalUrl === undefined), 'give either webhookUrl or portalUrl')
  .refine((p) => p.portalUrl === undefined || p.accessToken !== undefined, 'portalUrl needs accessToken');
const portalsFile = z.object({ portals: z.array(portalEntry).min(1) }).strict();

/**
 * Bitrix24 portals: the one the BITRIX24_* variables describe, plus those of BITRIX24_PORTALS_FILE.
 * Problems name the variable (or the file and the entry), never a value: webhook URLs are secrets.
 */
export function bitrix24Config(io: ConfigIO): z.ZodType<Bitrix24Config | undefined, Env> {
  return z
    .object({
      BITRIX24_WEBHOOK_URL: secret
        .pipe(
          z
            .string()
            .regex(...WEBHOOK)
            .optional(),
        )
        .describe(
          "One portal through an incoming webhook, `https://<portal>/rest/<user id>/<secret>/`: the URL holds the webhook's " +
            'secret, so it is never logged, and set but blank is refused. Not with `BITRIX24_PORTAL_URL`.',
        ),
      BITRIX24_PORTAL_URL: text
        .pipe(
          z
            .string()
            .regex(...PORTAL)
            .optional(),
        )
        .describe(
          'One portal through OAuth instead of a webhook: its address, such as `https://acme.bitrix24.com`, with ' +
            '`BITRIX24_ACCESS_TOKEN`. Not with `BITRIX24_WEBHOOK_URL`.',
        ),
      BITRIX24_ACCESS_TOKEN: secret.describe(
        "The OAuth access token of `BITRIX24_PORTAL_URL`'s portal, required with it; set but blank is refused.",
      ),
      BITRIX24_REFRESH_TOKEN: secret.describe(
        "The OAuth refresh token of `BITRIX24_PORTAL_URL`'s portal: with `BITRIX24_CLIENT_ID` and `BITRIX24_CLIENT_SECRET` " +
          'it renews an expired access token. All three or none; set but blank is refused.',
      ),
      BITRIX24_CLIENT_ID: secret.describe(
        "The OAuth app's client id, for renewing `BITRIX24_PORTAL_URL`'s access token: with `BITRIX24_REFRESH_TOKEN` and " +
          '`BITRIX24_CLIENT_SECRET`, all three or none; set but blank is refused.',
      ),
      BITRIX24_CLIENT_SECRET: secret.describe(
        "The OAuth app's client secret, for renewing `BITRIX24_PORTAL_URL`'s access token: with `BITRIX24_REFRESH_TOKEN` and " +
          '`BITRIX24_CLIENT_ID`, all three or none; set but blank is refused.',
      ),
      BITRIX24_PORTAL_NAME: text.describe(
        'The name GraphQL gives the portal of `BITRIX24_WEBHOOK_URL` or `BITRIX24_PORTAL_URL` (`Bitrix24User.portal`, the ' +
          "`portal` argument, a caller's portal header), refused without one of them. Unset: the portal's host.",
      ),
      BITRIX24_OAUTH_URL: httpUrl('https://oauth.bitrix.info').describe(
        "Bitrix24's OAuth server, an http(s) URL, where expired access tokens are renewed.",
      ),
      BITRIX24_PORTALS_FILE: text.describe(
        'The path of a JSON file listing portals, `{"portals": [...]}`, each with a webhook or OAuth tokens and an optional ' +
          '`name` and `rate` (docs/providers/bitrix24.md); they add to the portal of `BITRIX24_WEBHOOK_URL` or ' +
          '`BITRIX24_PORTAL_URL`, and all names must differ.',
      ),
      BITRIX24_MAX_IDS_PER_CALL: int(1, 500, 50).describe(
        'Ids per `im.user.list.get` command, 1–500; up to 50 commands travel together in one `batch` request.',
      ),
      BITRIX24_RATE_PER_SECOND: int(1, 1000, 2).describe(
        "Requests a second that each portal's client-side leaky bucket lets through, 1–1,000 (Enterprise plans allow 5); a " +
          'portal in `BITRIX24_PORTALS_FILE` with a `rate` of its own keeps it.',
      ),
      BITRIX24_RATE_BURST: int(1, 10_000, 50).describe(
        "Requests that each portal's client-side leaky bucket lets through at once, 1–10,000 (Enterprise plans allow 250); a " +
          'portal in `BITRIX24_PORTALS_FILE` with a `rate` of its own keeps it.',
      ),
    })
    .transform((vars, ctx): Bitrix24Config | undefined => {
      const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
      const rate = { perSecond: vars.BITRIX24_RATE_PER_SECOND, burst: vars.BITRIX24_RATE_BURST };
      const oauthUrl = vars.BITRIX24_OAUTH_URL;
      // All three or none: a portal with only some of them would start, then fail at its first expired token.
      const refreshFor = (where: string, what: string, refreshToken?: string, clientId?: string, clientSecret?: string) => {
        if (refreshToken && clientId && clientSecret) return { refreshToken, clientId, clientSecret, oauthUrl };
        if (refreshToken || clientId || clientSecret)
          problem(where, `${what}: set the refresh token, client id and client secret together, or none`);
        return undefined;
      };
      const portals: Bitrix24PortalConfig[] = [];
      // A URL that passes the pattern may still not parse (`https://[x/...`); the parser's error would
      // carry the whole URL, secret included, so it is read here and reported by name only.
      const hostOf = (url: string, variable: string, what: string): string | undefined => {
        try {
          return new URL(url).host;
        } catch {
          problem(variable, `${what} is not a valid URL`);
          return undefined;
        }
      };

      if (vars.BITRIX24_WEBHOOK_URL !== undefined && vars.BITRIX24_PORTAL_URL !== undefined) {
        problem('BITRIX24_WEBHOOK_URL', 'set either it or BITRIX24_PORTAL_URL (use BITRIX24_PORTALS_FILE for several portals)');
      } else if (vars.BITRIX24_WEBHOOK_URL !== undefined) {
        const host = hostOf(vars.BITRIX24_WEBHOOK_URL, 'BITRIX24_WEBHOOK_URL', 'it');
        if (host !== undefined) {
          portals.push({
            name: vars.BITRIX24_PORTAL_NAME ?? host,
            access: { kind: 'webhook', webhookUrl: withSlash(vars.BITRIX24_WEBHOOK_URL) },
            rate,
          });
        }
      } else if (vars.BITRIX24_PORTAL_URL !== undefined) {
        const host = hostOf(vars.BITRIX24_PORTAL_URL, 'BITRIX24_PORTAL_URL', 'it');
        if (vars.BITRIX24_ACCESS_TOKEN === undefined) problem('BITRIX24_ACCESS_TOKEN', 'required with BITRIX24_PORTAL_URL');
        else if (host !== undefined) {
          portals.push({
            name: vars.BITRIX24_PORTAL_NAME ?? host,
            access: {
              kind: 'oauth',
              portalUrl: vars.BITRIX24_PORTAL_URL,
              accessToken: vars.BITRIX24_ACCESS_TOKEN,
              refresh: refreshFor(
                'BITRIX24_REFRESH_TOKEN',
                'BITRIX24_REFRESH_TOKEN, BITRIX24_CLIENT_ID, BITRIX24_CLIENT_SECRET',
                vars.BITRIX24_REFRESH_TOKEN,
                vars.BITRIX24_CLIENT_ID,
                vars.BITRIX24_CLIENT_SECRET,
              ),
            },
            rate,
          });
        }
      }

      if (vars.BITRIX24_PORTAL_NAME !== undefined && vars.BITRIX24_WEBHOOK_URL === undefined && vars.BITRIX24_PORTAL_URL === undefined) {
        problem(
          'BITRIX24_PORTAL_NAME',
          'names the portal of BITRIX24_WEBHOOK_URL or BITRIX24_PORTAL_URL; set one of them (portals in BITRIX24_PORTALS_FILE have their own "name")',
        );
      }

      if (vars.BITRIX24_PORTALS_FILE !== undefined) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(io.readFile(vars.BITRIX24_PORTALS_FILE));
        } catch {
          problem('BITRIX24_PORTALS_FILE', 'cannot read it as JSON');
        }
        if (parsed !== undefined) {
          const file = portalsFile.safeParse(parsed);
          if (!file.success) {
            for (const issue of file.error.issues) problem('BITRIX24_PORTALS_FILE', `${issue.path.join('.') || 'file'}: ${issue.message}`);
          } else {
            file.data.portals.forEach((p, i) => {
              const host = hostOf(
                p.webhookUrl ?? p.portalUrl!,
                'BITRIX24_PORTALS_FILE',
                `portals.${i}.${p.webhookUrl ? 'webhookUrl' : 'portalUrl'}`,
              );
              if (host === undefined) return;
              const access: PortalAccess = p.webhookUrl
                ? { kind: 'webhook', webhookUrl: withSlash(p.webhookUrl) }
                : {
                    kind: 'oauth',
                    portalUrl: p.portalUrl!,
                    accessToken: p.accessToken!,
                    refresh: refreshFor('BITRIX24_PORTALS_FILE', `portals.${i}`, p.refreshToken, p.clientId, p.clientSecret),
                  };
              portals.push({ name: p.name ?? host, access, rate: p.rate ?? rate });
            });
          }
        }
      }

      const names = portals.map((p) => p.name);
      const duplicate = names.find((name, i) => names.indexOf(name) !== i);
      if (duplicate !== undefined)
        problem('BITRIX24_PORTALS_FILE', `two portals are named ${JSON.stringify(duplicate)}; give them distinct "name"s`);
      return portals.length === 0 ? undefined : { portals, maxIdsPerCall: vars.BITRIX24_MAX_IDS_PER_CALL };
    });
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
