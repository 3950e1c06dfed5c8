import { z } from 'zod';
import { DEFAULT_SECRET_HEADER } from '../auth/config.js';
import { text } from '../core/env.js';
import type { CallerHeader, Env, ProviderId } from '../core/types.js';

/**
 * The names of the headers that carry callers' own credentials (docs/access-control.md, "Per-caller
 * credentials"): each provider declares its headers with a variable and a default name; here those
 * variables are read and checked, like every other at start-up. A provider whose variable says `none`
 * takes no caller credential.
 */

/** By provider name, each role's header name (lower case); a provider absent here takes no caller credential. */
export type CallerHeaderNames = ReadonlyMap<string, Readonly<Record<string, string>>>;

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Headers that already mean something to HTTP, to a gateway or to this subgraph: a credential there
 * would be read by something else too (`authorization` carries the caller's JWT, "Access control").
 */
const RESERVED = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'host',
  'connection',
  'content-type',
  'content-length',
  'transfer-encoding',
  'te',
  'upgrade',
  'accept',
  'accept-encoding',
  'apollo-require-preflight',
  'apollo-federation-include-trace',
]);

/** What the headers' settings read of a provider: the headers its callers' credentials travel in. */
export interface CallerHeaderSource {
  readonly id: ProviderId;
  readonly callerCredentials?: { readonly headers: Readonly<Record<string, CallerHeader>> };
}

export function callerHeaderSettings(providers: readonly CallerHeaderSource[]): z.ZodType<CallerHeaderNames, Env> {
  const declared = providers.flatMap((provider) =>
    Object.entries(provider.callerCredentials?.headers ?? {}).map(([role, header]) => ({
      provider: provider.id.name,
      label: provider.id.label,
      role,
      header,
    })),
  );
  const headerName = text.pipe(
    z
      .string()
      .refine((v) => v.toLowerCase() === 'none' || HEADER_NAME.test(v), 'must be an HTTP header name, or none')
      .optional(),
  );
  return z
    .object({
      ...Object.fromEntries(
        declared.map(({ label, role, header }) => [
          header.variable,
          headerName.describe(
            `The HTTP header that carries the ${role} of a caller's own ${label} credential, \`${header.defaultName}\` when unset. ` +
              `\`none\` turns ${label}'s caller credentials off (its headers are then ignored); a name must differ from the ` +
              "other caller headers, from `AUTH_SHARED_SECRET_HEADER`'s and from headers that mean something else " +
              '(`authorization`, `cookie`, …).',
          ),
        ]),
      ),
      // Read only to keep a caller credential out of the gateway's secret header; its description is authEnv's.
      AUTH_SHARED_SECRET_HEADER: text,
    })
    .transform((vars, ctx) => {
      const values = vars as Record<string, string | undefined>;
      const off = new Set(declared.filter(({ header }) => values[header.variable]?.toLowerCase() === 'none').map((d) => d.provider));
      const names = new Map<string, Record<string, string>>();
      /** Header name -> the variable that chose it first. */
      const taken = new Map<string, string>([[(values.AUTH_SHARED_SECRET_HEADER ?? DEFAULT_SECRET_HEADER).toLowerCase(), '']]);
      for (const { provider, role, header } of declared) {
        if (off.has(provider)) continue;
        const name = (values[header.variable] ?? header.defaultName).toLowerCase();
        const problem = (message: string) => ctx.addIssue({ code: 'custom', path: [header.variable], message });
        const other = taken.get(name);
        if (RESERVED.has(name)) problem(`must not be ${name}: that header means something else`);
        else if (other === '') problem('must not be the header of AUTH_SHARED_SECRET_HEADER');
        else if (other !== undefined) problem(`names the same header as ${other}`);
        taken.set(name, header.variable);
        names.set(provider, { ...names.get(provider), [role]: name });
      }
      return names as CallerHeaderNames;
    });
}
