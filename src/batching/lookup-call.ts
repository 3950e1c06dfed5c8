import type { FieldSet, Lookup } from '../providers/provider.js';
import type { ProviderError } from '../upstream/errors.js';

/**
 * What travels through the shared layer (`shared-lookups.ts` and the pieces beside it): one request's
 * batch of keys for one lookup, and what that request offers the layer in return.
 */

/** The caller's own credential for a provider, when it sent one: its scope is a one-way hash of it. */
export interface CallerCredential {
  readonly token: string;
  /** A one-way hash of the token: partitions loaders, calls, cache entries and budgets by credential. */
  readonly scope: string;
}

/**
 * A record that answers only the fields it was fetched with, and why it is no more than that: served
 * from the cache after it expired because the upstream could not answer (`staleSeconds` set), or the
 * part of a record the upstream gave before it failed (a Nexudus list record when the full record
 * failed). The request answers each GraphQL field the record's fields cover, and every other one
 * `null` with `error` at the field's path: never a `null` that looks like "no value".
 */
export interface PartialAnswer {
  readonly lookup: Lookup<never, unknown>;
  readonly key: string;
  readonly record: unknown;
  /** The upstream fields the record was fetched with. */
  readonly fields: FieldSet;
  /** The upstream's failure for this key: what a field the record lacks answers. */
  readonly error: ProviderError;
  /** Seconds since the record was fetched, when it was served stale from the cache. */
  readonly staleSeconds?: number;
}

/** What a request offers the shared layer: where records that came along go, and what it notes. */
export interface RequestSink {
  readonly signal: AbortSignal;
  prime<R>(lookup: Lookup<never, R>, key: string, value: R | ProviderError, partition: string): void;
  /** `answer.record` is this request's answer for its key, whole only in the fields it was fetched with. */
  servePartial(answer: PartialAnswer): void;
  /** A request was sent upstream for a call this request waits on: for its log line (`src/telemetry/`). */
  noteUpstream?(provider: string): void;
  /** Which request this is, and its trace: named in the log lines of the upstream calls it waits on. */
  readonly requestId?: string | undefined;
  readonly traceId?: string | undefined;
}

/** One request's batch for one lookup. */
export interface LookupCall<R> {
  lookup: Lookup<never, R>;
  client: unknown;
  partition: string;
  credential: CallerCredential | undefined;
  /** The fields this request's operation needs of the lookup. */
  fields: FieldSet;
  request: RequestSink;
}

/** What a call is made with, and a cache entry is kept under: a lookup, in a credential scope and partition. */
export type CallTarget = Pick<LookupCall<unknown>, 'lookup' | 'client' | 'partition' | 'credential'>;
