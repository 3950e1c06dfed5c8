import type { ProviderError } from '../core/errors.js';
import type { Lookup, LookupCalls, Runtime } from '../core/lookup.js';
import type { CallerCredential, FieldSet } from '../core/types.js';

/**
 * What travels through the shared layer (`shared-lookups.ts` and the pieces beside it): one request's
 * batch of keys for one lookup, and what that request offers the layer in return.
 */

/**
 * A record that answers only the fields it was fetched with, and why it is no more than that: served
 * from the cache after it expired because the upstream could not answer (`staleSeconds` set), or the
 * part of a record the upstream gave before it failed (a Nexudus list record when the full record
 * failed). The request answers each GraphQL field the record's fields cover, and every other one
 * `null` with `error` at the field's path: never a `null` that looks like "no value".
 */
export interface PartialAnswer {
  readonly lookup: Lookup<unknown>;
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
  prime<R>(lookup: Lookup<R>, key: string, value: R | ProviderError, partition: string): void;
  /**
   * `answer.record` is this request's answer for its key, whole only in the fields it was fetched with:
   * resolves what the request is to be given for it (the record, or a view of it that answers the fields it
   * lacks with their error: `src/plan/partial-records.ts`).
   */
  servePartial(answer: PartialAnswer): unknown;
  /** A request was sent upstream for a call this request waits on: for its log line (`src/telemetry/`). */
  noteUpstream?(provider: string): void;
  /** Which request this is, and its trace: named in the log lines of the upstream calls it waits on. */
  readonly requestId?: string | undefined;
  readonly traceId?: string | undefined;
}

/** One request's batch for one lookup. */
export interface LookupCall<R> {
  lookup: Lookup<R>;
  /** What runs the lookup: its client's calls, bound in `runtime`. */
  calls: LookupCalls<R>;
  /** The running app whose clients serve the call (other lookups' calls, for records that came along). */
  runtime: Runtime;
  partition: string;
  credential: CallerCredential | undefined;
  /** The fields this request's operation needs of the lookup. */
  fields: FieldSet;
  request: RequestSink;
}

/** What a call is made with, and a cache entry is kept under: a lookup, in a credential scope and partition. */
export type CallTarget = Pick<LookupCall<unknown>, 'lookup' | 'calls' | 'runtime' | 'partition' | 'credential'>;
