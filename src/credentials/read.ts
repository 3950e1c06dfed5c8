import { createHash } from 'node:crypto';
import { GraphQLError } from 'graphql';
import type { RequestHeaders } from '../auth/identify.js';
import type { Runtime } from '../core/lookup.js';
import type { CallerCredential, CallerHeader, ProviderId } from '../core/types.js';
import type { CallerHeaderNames } from './headers.js';
import { matches } from './syntax.js';

/**
 * A request's own credentials (docs/access-control.md, "Per-caller credentials"), read from its headers once, before
 * anything runs: by provider name, then partition (a Bitrix24 portal; `''` for a provider that has
 * none), the token to make its lookups with and the scope they are kept under.
 */
export type CallerCredentials = ReadonlyMap<string, ReadonlyMap<string, CallerCredential>>;

export type ReadCallerCredentials = (headers: RequestHeaders) => CallerCredentials;

/** What the reader needs of a provider: its headers, and how their values become tokens with the client it runs. */
export interface CredentialSource {
  readonly id: ProviderId;
  readonly callerCredentials?: {
    readonly headers: Readonly<Record<string, CallerHeader>>;
    /** How values become tokens with the client the provider runs with in `runtime`; undefined when it runs in none. */
    readerIn(
      runtime: Runtime,
    ):
      | ((
          values: Readonly<Partial<Record<string, string>>>,
          names: Readonly<Record<string, string>>,
        ) => ReadonlyMap<string, string> | { problem: string })
      | undefined;
  };
}

const NONE: CallerCredentials = new Map();

/**
 * What reads them, made once per server for the configured providers that take caller credentials
 * (`names` says which, and their headers). A value that is not of its header's syntax, or that the
 * provider cannot use (a portal that is not configured), refuses the whole request with HTTP 401 and
 * UNAUTHENTICATED: nothing runs and nothing is sent upstream, and the message names the header, never
 * the value.
 */
export function callerCredentialReader(
  names: CallerHeaderNames,
  runtime: Runtime,
  providers: readonly CredentialSource[],
): ReadCallerCredentials {
  const sources = providers.flatMap((provider) => {
    const spec = provider.callerCredentials;
    const headerNames = names.get(provider.id.name);
    // A provider not configured here (no client in this runtime) takes nothing: its headers are not even looked at.
    const read = spec?.readerIn(runtime);
    return spec === undefined || headerNames === undefined || read === undefined
      ? []
      : [{ provider: provider.id, spec, headerNames, read }];
  });
  if (sources.length === 0) return () => NONE;

  return (headers) => {
    let credentials: Map<string, ReadonlyMap<string, CallerCredential>> | undefined;
    for (const { provider, spec, headerNames, read: readTokens } of sources) {
      const values: Record<string, string> = {};
      let sent = false;
      for (const [role, header] of Object.entries(spec.headers)) {
        const name = headerNames[role]!;
        const value = headers.get(name);
        if (value === undefined) continue;
        if (!matches(header.syntax, value)) throw refused(provider, name, `the ${name} header must be ${header.syntax.expected}`);
        values[role] = value;
        sent = true;
      }
      if (!sent) continue;
      const read = readTokens(values, headerNames);
      if ('problem' in read) throw refused(provider, undefined, read.problem);
      if (read.size === 0) continue;
      const byPartition = new Map<string, CallerCredential>();
      for (const [partition, token] of read) byPartition.set(partition, { token, scope: credentialScope(provider, partition, token) });
      credentials ??= new Map();
      credentials.set(provider.name, byPartition);
    }
    return credentials ?? NONE;
  };
}

/**
 * The scope of a caller's token: SHA-256 of the provider, the partition and the token, in hex, cut to 128
 * bits. One-way, so that cache keys, rate budgets and Redis hold it instead of the token; the same on every
 * replica, so that they share a caller's entries and budgets; and apart for each provider and partition,
 * so that one token sent for two of them is two scopes.
 */
export function credentialScope(provider: ProviderId, partition: string, token: string): string {
  return createHash('sha256').update(`${provider.name}\0${partition}\0${token}`, 'utf8').digest('hex').slice(0, 32);
}

/** HTTP 401 UNAUTHENTICATED for a whole request, before anything runs. */
function refused(provider: ProviderId, header: string | undefined, why: string): GraphQLError {
  return new GraphQLError(`Unauthenticated: ${why}`, {
    extensions: {
      code: 'UNAUTHENTICATED',
      provider: provider.name,
      ...(header === undefined ? {} : { header }),
      http: { status: 401 },
    },
  });
}
