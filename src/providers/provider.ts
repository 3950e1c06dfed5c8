import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { problemsOf } from '../core/env.js';
import type { IdArgument, Lookup, Runtime } from '../core/lookup.js';
import type { UpstreamSettings } from '../core/settings.js';
import type { CallerHeader, ConfigIO, Env, ProviderId } from '../core/types.js';

import type { CredentialSource } from '../credentials/read.js';
import type { Circuits } from '../upstream/circuit.js';
import type { SharedState } from '../upstream/shared-state.js';

/**
 * The provider contract: what a folder under `src/providers/` writes (`ProviderDefinition`, typed by its
 * own config and client) and what the rest of the subgraph gets from it (`Provider`, through
 * `defineProvider`), in which neither type travels: a configured provider starts its client and binds
 * its lookups to it, and the core reaches them through the lookups alone (`src/core/lookup.ts`).
 * Imported by the providers and their registry; everything else names providers through the registry.
 */

/** What a client is made with: the shared upstream settings, a logger, what replicas share. */
export interface ClientContext {
  upstream: UpstreamSettings;
  /** Already bound to `{ provider: <name> }`. */
  logger: Logger;
  /** What everything time-based in the client runs on (waits, pacing, token expiry, rate-limit resets). */
  clock: Clock;
  /** Where the client gets the circuit breaker of each upstream scope it calls. */
  circuits: Circuits;
  /**
   * What the replicas share about the accounts the client calls (a pacer per account, rate budgets, an
   * account's rotating token): in Redis with `REDIS_URL`, else in this process. A client never sees Redis.
   */
  shared: SharedState;
  /**
   * Set when an emulator that does not speak over the network (Telegram's, in process) stands in for the
   * upstream: the provider checks that it is one of its own and uses it instead of connecting.
   */
  transport?: unknown;
}

/** A provider as its folder defines it, typed by its own configuration and client. */
export interface ProviderDefinition<Config, Client> {
  readonly id: ProviderId;
  /**
   * The provider's own environment variables as a zod schema. Its output is the provider's config, or
   * `undefined` when none of its credentials are set ("not configured"). Its issues are the problems,
   * each under the path of the variable at fault; a message never repeats a value (some are secrets).
   */
  config(io: ConfigIO): z.ZodType<Config | undefined, Env>;
  /** The long-lived client: connection pools, tokens, pacing. Made once per running app. */
  createClient(config: Config, context: ClientContext): Client | Promise<Client>;
  closeClient(client: Client): Promise<void>;
  /** Binds the provider's lookups, and whatever its resolvers reach of the client (`RuntimeSlot`), to `client` in `runtime`. */
  bind(client: Client, runtime: Runtime): void;
  /** The "get many by key" calls this provider makes; the core builds each request's loaders from them. */
  readonly lookups: readonly Lookup<unknown>[];
  /** Its resolvers: the generated `Resolvers` type, as the schema builder merges them. */
  readonly resolvers: object;
  /**
   * The SDL of its types and root fields. By default the file `schema/<id.name>.graphql`, which codegen
   * types its resolvers from; given here only by a provider that lives outside this repository's schema.
   */
  readonly typeDefs?: string;
  /** Root-field arguments that carry keys of one of `lookups`. */
  readonly idArguments: readonly IdArgument[];
  /** How long its records stay fresh in the record cache unless `<NAME>_CACHE_TTL_SECONDS` says otherwise. */
  readonly cacheTtlSeconds: number;
  /** How a caller may send its own credential for this provider's lookups; absent: only the server's are used. */
  readonly callerCredentials?: CallerCredentialSpec<Client>;
}

/**
 * How a caller sends its own credential for a provider (docs/access-control.md, "Per-caller credentials"): the headers
 * that carry it, by role (`token`, `portal`), and how their values become a token per partition. The core
 * reads them once per request, before anything runs; a lookup in a partition the caller has a token for
 * is made with that token, under its scope (a one-way hash), and every other with the server's credentials.
 */
export interface CallerCredentialSpec<Client> {
  readonly headers: Readonly<Record<string, CallerHeader>>;
  /**
   * The caller's tokens by partition, from the values of the headers it sent (by role; each already of
   * its syntax); an empty map when it sent none. Or why they cannot be used: a message that names the
   * headers (`names`, by role) and never repeats a value.
   */
  read(
    values: Readonly<Partial<Record<string, string>>>,
    client: Client,
    names: Readonly<Record<string, string>>,
  ): ReadonlyMap<string, string> | { problem: string };
}

/** A provider as the rest of the subgraph sees it: no configuration or client type of its own. */
export interface Provider {
  readonly id: ProviderId;
  readonly lookups: readonly Lookup<unknown>[];
  readonly resolvers: object;
  readonly typeDefs?: string;
  readonly idArguments: readonly IdArgument[];
  readonly cacheTtlSeconds: number;
  /** Its caller credentials' headers, and `CallerCredentialSpec.read` with the client it runs with in a runtime. */
  readonly callerCredentials?: CredentialSource['callerCredentials'];
  /** Its environment variables: how to start it, `undefined` when none of its credentials are set, or the problems. */
  configure(env: Env, io: ConfigIO): Configured | undefined | { problems: string[] };
  /** The schema `configure` reads its variables with: for the configuration reference and the unknown-variable check. */
  environment(io: ConfigIO): z.ZodType<unknown, Env>;
}

/** A configured provider: it starts its client and binds its lookups to it. */
export interface Configured {
  start(context: ClientContext, runtime: Runtime): Promise<{ close(): Promise<void> }>;
}

/** The `Provider` a folder's definition makes: its config and client types stay inside. */
export function defineProvider<Config, Client>(definition: ProviderDefinition<Config, Client>): Provider {
  const { id, lookups, resolvers, typeDefs, idArguments, cacheTtlSeconds, callerCredentials } = definition;
  // The client each runtime started, for `callerCredentials.read`.
  const clients = new WeakMap<Runtime, Client>();
  return {
    id,
    lookups,
    resolvers,
    ...(typeDefs === undefined ? {} : { typeDefs }),
    idArguments,
    cacheTtlSeconds,
    ...(callerCredentials === undefined
      ? {}
      : {
          callerCredentials: {
            headers: callerCredentials.headers,
            readerIn: (runtime) => {
              const client = clients.get(runtime);
              return client === undefined ? undefined : (values, names) => callerCredentials.read(values, client, names);
            },
          },
        }),
    environment: (io) => definition.config(io),
    configure(env, io) {
      const result = definition.config(io).safeParse(env);
      if (!result.success) return { problems: problemsOf(result.error) };
      const config = result.data;
      if (config === undefined) return undefined;
      return {
        async start(context, runtime) {
          const client = await definition.createClient(config, context);
          clients.set(runtime, client);
          definition.bind(client, runtime);
          return { close: () => definition.closeClient(client) };
        },
      };
    },
  };
}
