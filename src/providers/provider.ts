import type { Logger } from 'pino';
import type { z } from 'zod';
import type { CallerCredential } from '../batching/lookup-call.js';
import type { UpstreamSettings } from '../config.js';
import type { Resolvers } from '../generated/resolvers-types.js';
import type { IdArgument } from '../guard/input-guard.js';
import type { SelectedFields } from '../plan/selected-fields.js';
import type { Circuits } from '../upstream/circuit.js';
import type { Clock } from '../upstream/clock.js';
import type { ProviderError } from '../upstream/errors.js';
import type { SharedState } from '../upstream/shared-state.js';

/**
 * What a provider is, as the core sees it. Every folder under `src/providers/` exports one
 * `ProviderDefinition`. The core (configuration, clients, per-request loaders, the demo, the test
 * harness) loops over the registry of these and names no provider itself.
 */

/** How a provider is named: `name` in metrics, logs and `extensions.provider`; `label` in messages. */
export interface ProviderId<Name extends string = string> {
  readonly name: Name;
  readonly label: string;
}

/** Environment variables, as `process.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>;

/** What configuration may read besides the environment (injectable for tests). */
export interface ConfigIO {
  readFile(path: string): string;
  exists(path: string): boolean;
}

/** What a client is made with: the shared upstream settings, a logger, and an emulator's transport if any. */
export interface ClientContext<Transport = never> {
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
   * Set when an emulator that does not speak over the network (Telegram's, in-process) stands in for
   * the upstream: the client uses it instead of connecting.
   */
  transport?: Transport;
}

export interface ProviderDefinition<
  Name extends string = string,
  Config = unknown,
  Client = unknown,
  Transport = never,
  Emulator extends ProviderEmulator<Transport> = ProviderEmulator<Transport>,
> {
  readonly id: ProviderId<Name>;
  /**
   * The provider's own environment variables as a zod schema. Its output is the provider's config, or
   * `undefined` when none of its credentials are set ("not configured"). Its issues are the problems,
   * each under the path of the variable at fault; a message never repeats a value (some are secrets).
   */
  config(io: ConfigIO): z.ZodType<Config | undefined, Env>;
  /** The long-lived client: connection pools, tokens, pacing. Called once per process. */
  createClient(config: Config, context: ClientContext<Transport>): Client | Promise<Client>;
  closeClient(client: Client): Promise<void>;
  /** The "get many by key" calls this provider makes; the core builds each request's loaders from them. */
  readonly lookups: readonly Lookup<Client, unknown>[];
  readonly resolvers: Resolvers;
  /** Root-field arguments that carry keys of one of `lookups`. */
  readonly idArguments: readonly IdArgument[];
  /** The emulator and its demo set-up, loaded only when the demo or a test runs it. */
  emulator(): Promise<Emulator>;
  /** How long its records stay fresh in the record cache unless `<NAME>_CACHE_TTL_SECONDS` says otherwise. */
  readonly cacheTtlSeconds: number;
  /** How a caller may send its own credential for this provider's lookups; absent: only the server's are used. */
  readonly callerCredentials?: CallerCredentialSpec<Client>;
}

/** Any provider, whatever its types: what the registry holds. */
// biome-ignore lint/suspicious/noExplicitAny: the registry is heterogeneous; each entry is typed where it is defined.
export type AnyProvider = ProviderDefinition<string, any, any, any, any>;

// ---------------------------------------------------------------------------------------------
// Lookups: the data path.

/**
 * The upstream fields one lookup needs, as sorted strings a provider chooses (`user.fields=created_at`,
 * `AVATAR_HR`, `full`). A record fetched with set A answers any operation whose set is a subset of A.
 */
export type FieldSet = readonly string[];

/** What a key of a lookup looks like. Keys are checked here, after GraphQL coerced them, before any call. */
export interface KeySpec {
  isValid(key: string): boolean;
  /** Names a valid key in an error message, e.g. "an X user id (1-19 digits)". */
  expected: string;
  /** Keys that name the same record (usernames differing in case) share one entry. */
  normalize?(key: string): string;
}

/**
 * One upstream "get many by key" call: X's `GET /2/users`, Telegram's `users.getUsers`, ... The core
 * batches every `load` of one request and tick into `fetch` calls of at most `maxBatchSize` distinct
 * keys, with the fields the operation needs.
 */
export interface Lookup<Client, Record> {
  readonly provider: ProviderId;
  /** Names the lookup in logs (`users`, `usersByUsername`); unique within the provider. */
  readonly name: string;
  /**
   * The GraphQL object type its records resolve as (`XUser`): a record that answers only some fields
   * (stale, or incomplete) answers each field of this type whose upstream fields it was fetched with.
   */
  readonly type: string;
  readonly key: KeySpec;
  maxBatchSize(client: Client): number;
  /** The upstream fields an operation that selects `selected` needs; `undefined`: everything mappable. */
  fields(selected: SelectedFields | undefined): FieldSet;
  /**
   * Of a field set, the entries that shape the record itself; the others only bring other records along
   * in the same call (X's `expansions` and the fields of what they expand). A cached record answers
   * when it was fetched with these: what came along is looked up in its own lookup. Default: all.
   */
  recordFields?(fields: FieldSet): FieldSet;
  /**
   * A ceiling of the lookup's own on the distinct keys one operation may ask with these fields, beyond
   * the provider-wide MAX_IDS_PER_OPERATION: for a call that costs one upstream request per key.
   */
  maxKeysPerOperation?(client: Client, fields: FieldSet): { limit: number; why: string } | undefined;
  /**
   * One upstream call (or, for a provider that needs it, a bounded set of calls) for distinct keys.
   * The result is keyed by the (normalized) key; a key absent from it was not found. A whole-call
   * failure is thrown as a ProviderError and reported at every key.
   */
  fetch(client: Client, keys: readonly string[], scope: FetchScope): Promise<Map<string, Record | ProviderError>>;
  /**
   * How a record is kept in the record cache, which may be Redis (JSON). Without one, a record is kept as
   * it is: right for plain JSON records; a record with binary parts (MTProto's) needs its own. The client
   * is given so that a codec's library is loaded only with the provider. `decode` throws on what it
   * cannot read (another version's entry): that is a miss.
   */
  readonly codec?: { encode(record: Record, client: Client): unknown; decode(stored: unknown, client: Client): Record };
}

/** What a fetch may use besides its keys. */
export interface FetchScope {
  /** Partitions a provider's loaders (a Bitrix24 portal); `''` when the provider has one. */
  partition: string;
  /** The fields this fetch asks for: at least what every operation waiting on it needs. */
  fields: FieldSet;
  /** Aborted when no request waits for this fetch any more: work still queued or in flight is dropped. */
  signal: AbortSignal;
  /**
   * Hands a record that came along (an expansion) to another lookup, so it is not fetched again. With
   * `fields`, the fields the other lookup's record was fetched with, it is cached too.
   */
  prime<R>(lookup: Lookup<never, R>, key: string, value: R | ProviderError, fields?: FieldSet): void;
  /**
   * The caller's own credential for this provider (and partition), when it sent one: the call is made
   * with its token instead of the server's, and its `scope` is the call's `UpstreamRequest.scope`.
   */
  credential?: CallerCredential;
  logger: Logger;
}

// ---------------------------------------------------------------------------------------------
// Caller credentials (README, "Per-caller credentials").

/** One header of a caller credential: the variable that names it, its default name, what a value must look like. */
export interface CallerHeader {
  /** The environment variable that renames the header; `none` there turns the provider's caller credentials off. */
  readonly variable: string;
  /** The header's name when the variable is not set (lower case). */
  readonly defaultName: string;
  /** What a value must be, checked by the core before `read` sees it (`src/credentials/syntax.ts`). */
  readonly syntax: HeaderSyntax;
}

/** What a header's value must be: at most `maxLength` characters matching `pattern`; `expected` says so in a message. */
export interface HeaderSyntax {
  readonly pattern: RegExp;
  readonly maxLength: number;
  readonly expected: string;
}

/**
 * How a caller sends its own credential for a provider: the headers that carry it, by role (`token`,
 * `portal`), and how their values become a token per partition. The core reads them once per request,
 * before anything runs; a lookup in a partition the caller has a token for is made with that token,
 * under its scope (a one-way hash), and every other lookup with the server's credentials.
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

// ---------------------------------------------------------------------------------------------
// Emulators.

export interface ProviderEmulator<Transport = never> {
  /**
   * Starts the emulator on loopback (or in process). `demo`: long-running, so it keeps no request log.
   * `options` are the emulator's own, for tests.
   */
  start(mode: 'demo' | 'test', options?: unknown): Promise<RunningEmulator<Transport>>;
}

export interface RunningEmulator<Transport = never> {
  /** The provider's environment variables that point it at this emulator. */
  env: Env;
  /** For an emulator the client cannot reach over the network: what to use instead. */
  transport?: Transport;
  /** Where it listens, for the demo's log line. */
  location: string;
  /** The emulator itself, for tests to inspect and drive. */
  handle: unknown;
  /** Forgets recorded requests, injected faults and rate-limit state (tests, between cases). */
  reset(): void;
  close(): Promise<void>;
}
