import DataLoader from 'dataloader';
import type { Logger } from 'pino';
import { ANONYMOUS, type Caller } from './auth/caller.js';
import { createBatchLoader } from './batching/batch-loader.js';
import { KeyBudget } from './batching/key-budget.js';
import type { PartialAnswer, RequestSink } from './batching/lookup-call.js';
import { SharedLookups } from './batching/shared-lookups.js';
import { MemoryCache } from './cache/memory-cache.js';
import { systemClock } from './core/clock.js';
import { ProviderError } from './core/errors.js';
import { checkKey, type Lookup, type ResolverContext, type Runtime } from './core/lookup.js';
import type { FieldSet, ProviderId, SelectedFields } from './core/types.js';
import type { CallerCredentials } from './credentials/read.js';
import { answeredFields, type PartialRecords } from './plan/partial-records.js';
import type { OperationTelemetry } from './telemetry/operation.js';

/** What bounds one request's work. */
export interface RequestLimits {
  /**
   * Aborted when the operation's deadline passes, its client goes away, or the server shuts down: work
   * for this request still queued or in flight upstream is dropped.
   */
  signal: AbortSignal;
  /** Most distinct keys one operation may ask of one provider within one partition (MAX_IDS_PER_OPERATION). */
  maxIdsPerProvider: number;
}

const UNBOUNDED: RequestLimits = { signal: new AbortController().signal, maxIdsPerProvider: Number.POSITIVE_INFINITY };

/** For a context made outside a server (tests): no cache, and only the keys of one turn share a call. */
let unshared: SharedLookups | undefined;
function defaultShared(logger: Logger): SharedLookups {
  unshared ??= new SharedLookups({
    cache: new MemoryCache(0),
    policy: () => ({ enabled: false, ttlMs: 0, missingTtlMs: 0, staleMs: 0 }),
    windowMs: 0,
    clock: systemClock,
    logger,
  });
  return unshared;
}

/** A stale answer a request served because its upstream could not answer (README, "Record cache"). */
export interface StaleNote {
  provider: string;
  id: string;
  ageSeconds: number;
  /** The selected fields of the record's type that the stale record answered (the others answered an error). */
  fields?: string[];
}

/**
 * What one GraphQL request carries: its logger, the fields its operation selects (set once the
 * operation is known, before execution), and its loaders, one per lookup and partition, made on first
 * use and never shared between requests, so one caller's results are never served to another.
 */
export class RequestContext implements RequestSink, PartialRecords, ResolverContext {
  /** Set by the field-plan plugin before execution; until then every mappable field is planned. */
  selected: SelectedFields | undefined;
  /** Who sent the request (README, "Access control"): set by the server from its credentials before the operation runs. */
  caller: Caller = ANONYMOUS;
  /**
   * The caller's own credentials, by provider name and partition (README, "Per-caller credentials"): set
   * by the server from the request's headers before the operation runs. A lookup in a partition the caller
   * has a credential for is made with it, and shares loaders, calls, cache entries and rate budgets only
   * with requests under the same credential; every other lookup runs under the server's credentials.
   */
  credentials: CallerCredentials = new Map();
  /** Stale answers served to this request, for its response's `extensions.stale`. */
  readonly stale: StaleNote[] = [];
  /**
   * The records this request answers only in part (stale, or incomplete): each answers the fields it was
   * fetched with and an error at every other (`src/plan/partial-records.ts`). Made with the first one.
   */
  partialRecords: WeakMap<object, PartialAnswer> | undefined;
  /**
   * The request's id, trace and per-operation log line (README, "Tracing and logs"): set by the server,
   * which also made `logger` its child logger. Absent for a context made outside a server (tests).
   */
  telemetry: OperationTelemetry | undefined;
  private readonly budget = new KeyBudget();
  /** Items of id lists and representations this request may still hand its root fields (`limitListItems`). */
  private listItemsLeft = Number.POSITIVE_INFINITY;
  /** The request's ceiling on list items (MAX_LIST_ITEMS_PER_OPERATION), once the input guard set it. */
  listItemsLimit = Number.POSITIVE_INFINITY;
  /** Keys handed to a lookup by another one's answer (`lookup\0partition\0key`): they cost no call. */
  private readonly primed = new Set<string>();

  private readonly shared: SharedLookups;

  constructor(
    /** The running app whose clients serve this request: where its lookups' calls are bound. */
    readonly runtime: Runtime,
    readonly logger: Logger,
    readonly limits: RequestLimits = UNBOUNDED,
    shared?: SharedLookups,
  ) {
    this.shared = shared ?? defaultShared(logger);
  }

  /**
   * Whether the request sent credentials of its own: its answer may then hold what only that caller
   * may see, and must not be kept by a shared cache (`Cache-Control: private`).
   */
  usesCallerCredentials(): boolean {
    return this.credentials.size > 0;
  }

  /** Errors this request may still answer for items beyond `listItemsLimit` (as many as the limit). */
  private listItemErrorsLeft = Number.POSITIVE_INFINITY;

  /** Sets the most list items this request's root fields may take in all (the input guard, per request). */
  limitListItems(max: number): void {
    this.listItemsLimit = max;
    this.listItemsLeft = max;
    this.listItemErrorsLeft = max;
  }

  /**
   * How many of `refused` items beyond the ceiling get an error of their own: at most as many in all as
   * the ceiling, and at least one per field, so that a hostile list costs at most that many errors.
   */
  takeListItemErrors(refused: number): number {
    const errors = Math.max(1, Math.min(refused, this.listItemErrorsLeft));
    this.listItemErrorsLeft = Math.max(0, this.listItemErrorsLeft - errors);
    return errors;
  }

  /**
   * How many of a root field's `requested` list items fit in what is left of the request's ceiling, in
   * the order the fields run; takes them. The items beyond are answered with an error each (`src/guard/input-guard.ts`).
   */
  admitListItems(requested: number): number {
    const admitted = Math.min(requested, this.listItemsLeft);
    this.listItemsLeft -= admitted;
    return admitted;
  }

  servePartial(answer: PartialAnswer): void {
    const { record } = answer;
    if (typeof record === 'object' && record !== null) {
      this.partialRecords ??= new WeakMap();
      this.partialRecords.set(record, answer);
    }
    if (answer.staleSeconds === undefined) return;
    const fields = answeredFields(answer, this.selected);
    const note: StaleNote = { provider: answer.lookup.provider.name, id: answer.key, ageSeconds: answer.staleSeconds };
    if (fields !== undefined) note.fields = fields;
    this.stale.push(note);
  }

  /** An upstream request was sent for this operation (a shared call counts for every request waiting on it). */
  noteUpstream(provider: string): void {
    this.telemetry?.noteUpstream(provider);
  }

  get requestId(): string | undefined {
    return this.telemetry?.requestId;
  }

  get traceId(): string | undefined {
    return this.telemetry?.traceId;
  }

  /** Aborted once this request's work is no longer wanted (see `RequestLimits.signal`). */
  get signal(): AbortSignal {
    return this.limits.signal;
  }

  /**
   * The record `key` names in `lookup` (within `partition`, e.g. one of several accounts of a provider). Every load of the
   * request in the same tick joins one batch. A key that is not valid for the lookup fails alone with
   * BAD_USER_INPUT and is never sent: this is where every id is checked, whatever the way it came in
   * (a root argument after coercion, a default value, an `_entities` representation, an expansion).
   */
  load<R>(lookup: Lookup<R>, key: unknown, partition = ''): Promise<R> {
    const checked = checkKey(lookup.provider, lookup.key, key);
    if (checked instanceof ProviderError) return Promise.reject(checked);
    const refused = this.admit(lookup, checked, partition);
    if (refused !== undefined) return Promise.reject(refused);
    return this.loader(lookup, partition).load(checked);
  }

  /**
   * Counts `key` against what one operation may ask of its provider, after GraphQL coerced it (default
   * values and a scalar given for a list included): distinct keys per provider, credential scope and
   * partition, at most MAX_IDS_PER_OPERATION, and at most the lookup's own ceiling for the fields asked
   * (one upstream call per key, for example). Distinct keys are what cost upstream calls: a key asked
   * again, however often (a gateway's representations of the same author), costs nothing and counts once.
   * A key beyond fails alone with BAD_USER_INPUT, and the rest of the operation stands: what a gateway can
   * pass on, unlike a refused request.
   */
  admit(lookup: Lookup<unknown>, key: string, partition = ''): ProviderError | undefined {
    const normalized = lookup.key.normalize?.(key) ?? key;
    if (this.primed.has(`${lookup.name}\0${partition}\0${normalized}`)) return undefined;
    const { provider } = lookup;
    const limit = this.limits.maxIdsPerProvider;
    // One request has one credential scope per provider and partition; named so that the budget is per scope whatever that becomes.
    const scope = this.credentials.get(provider.name)?.get(partition)?.scope ?? '';
    if (!this.budget.admit(`${provider.name}\0${scope}\0${partition}`, `${lookup.name}\0${normalized}`, limit)) {
      return overLimit(provider, key, `at most ${limit} distinct ids per provider in one operation (MAX_IDS_PER_OPERATION)`, limit);
    }
    const own = lookup.in(this.runtime)?.maxKeysPerOperation?.(fieldsOf(lookup, this.selected));
    if (own !== undefined && !this.budget.admit(`${provider.name}\0${scope}\0${partition}\0${lookup.name}`, normalized, own.limit)) {
      return overLimit(provider, key, own.why, own.limit);
    }
    return undefined;
  }

  /** Gives the request's `lookup` a record it came by otherwise, so that loading `key` costs no call. */
  prime<R>(lookup: Lookup<R>, key: string, value: R | ProviderError, partition = ''): void {
    this.primed.add(`${lookup.name}\0${partition}\0${lookup.key.normalize?.(key) ?? key}`);
    this.loader(lookup, partition).prime(key, value);
  }

  private loader<R>(lookup: Lookup<R>, partition: string): DataLoader<string, R, string> {
    return lookup.loaderOf(this, partition, () => this.createLoader(lookup, partition));
  }

  private createLoader<R>(lookup: Lookup<R>, partition: string): DataLoader<string, R, string> {
    const { provider } = lookup;
    const calls = lookup.in(this.runtime);
    if (calls === undefined) {
      return new DataLoader<string, R, string>(async (keys) =>
        keys.map((id) => new ProviderError({ code: 'PROVIDER_NOT_CONFIGURED', provider, id })),
      );
    }
    const call = {
      lookup,
      calls,
      runtime: this.runtime,
      partition,
      credential: this.credentials.get(provider.name)?.get(partition),
      fields: fieldsOf(lookup, this.selected),
      request: this,
    };
    // The request's own batch for this tick; the shared layer below chunks it, caches and coalesces.
    return createBatchLoader<R>({
      provider,
      cacheKey: lookup.key.normalize,
      logger: this.logger,
      fetch: (keys) => this.shared.load(call, keys),
    });
  }
}

function overLimit(provider: ProviderId, key: string, why: string, limit: number): ProviderError {
  return new ProviderError(
    { code: 'BAD_USER_INPUT', provider, id: key },
    `${provider.label}: ${JSON.stringify(key)} was not looked up: ${why}`,
    { limit },
  );
}

/** A lookup's field set for an operation: depends on the document alone, so computed once per selection. */
const fieldSets = new WeakMap<object, Map<Lookup<unknown>, FieldSet>>();
const EVERYTHING = {};

function fieldsOf(lookup: Lookup<unknown>, selected: SelectedFields | undefined): FieldSet {
  const owner = selected ?? EVERYTHING;
  let byLookup = fieldSets.get(owner);
  if (byLookup === undefined) {
    byLookup = new Map();
    fieldSets.set(owner, byLookup);
  }
  let fields = byLookup.get(lookup);
  if (fields === undefined) {
    fields = lookup.fields(selected);
    byLookup.set(lookup, fields);
  }
  return fields;
}
