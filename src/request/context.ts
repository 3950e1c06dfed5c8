import DataLoader from 'dataloader';
import type { Logger } from 'pino';
import { ANONYMOUS, type Caller } from '../auth/caller.js';
import { createBatchLoader } from '../batching/batch-loader.js';
import { OperationKeys } from '../batching/key-budget.js';
import type { PartialAnswer, RequestSink } from '../batching/lookup-call.js';
import { SharedLookups } from '../batching/shared-lookups.js';
import { MemoryCache } from '../cache/memory-cache.js';
import { systemClock } from '../core/clock.js';
import { ProviderError } from '../core/errors.js';
import { checkKey, type Lookup, type ResolverContext, type Runtime } from '../core/lookup.js';
import type { FieldSet, SelectedFields } from '../core/types.js';
import type { CallerCredentials } from '../credentials/read.js';
import { answeredFields, type PartialRecords, partialView } from '../plan/partial-records.js';
import type { OperationTelemetry } from '../telemetry/operation.js';

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

/** What a request is made with (`src/request/context-factory.ts` for the server's). */
export interface RequestSetup {
  /** The running app whose clients serve this request: where its lookups' calls are bound. */
  runtime: Runtime;
  logger: Logger;
  /** Unbounded when absent (a context made outside a server: tests). */
  limits?: RequestLimits;
  /** The record cache and coalescing under every request; none (each tick's keys share a call) when absent. */
  shared?: SharedLookups;
  /** Who sent the request (docs/access-control.md, "Access control"); anonymous when absent. */
  caller?: Caller;
  /** The caller's own credentials, by provider name and partition; none when absent. */
  credentials?: CallerCredentials;
  /** The request's id, trace and log line; `logger` is then its child logger. */
  telemetry?: OperationTelemetry;
}

/** A stale answer a request served because its upstream could not answer (docs/sharing.md, "Record cache"). */
export interface StaleNote {
  provider: string;
  id: string;
  ageSeconds: number;
  /** The selected fields of the record's type that the stale record answered (the others answered an error). */
  fields?: string[];
}

/**
 * What one GraphQL request carries: who sent it and with which credentials, what bounds it, the fields
 * its operation selects (set once the operation is known, before execution), and its loaders, one per
 * lookup and partition, made on first use and never shared between requests, so one caller's results
 * are never served to another.
 */
export class RequestContext implements RequestSink, PartialRecords, ResolverContext {
  readonly runtime: Runtime;
  readonly logger: Logger;
  readonly limits: RequestLimits;
  /** Who sent the request (docs/access-control.md, "Access control"). */
  readonly caller: Caller;
  /**
   * The caller's own credentials, by provider name and partition (docs/access-control.md, "Per-caller credentials"). A
   * lookup in a partition the caller has a credential for is made with it, and shares loaders, calls,
   * cache entries and rate budgets only with requests under the same credential; every other lookup runs
   * under the server's credentials.
   */
  readonly credentials: CallerCredentials;
  /** The request's id, trace and per-operation log line (docs/operations.md, "Tracing and logs"); absent outside a server. */
  readonly telemetry: OperationTelemetry | undefined;
  /** Set by the field-plan plugin before execution; until then every mappable field is planned. */
  selected: SelectedFields | undefined;
  /** Stale answers served to this request, for its response's `extensions.stale`. */
  readonly stale: StaleNote[] = [];
  /**
   * The records this request answers only in part (stale, or incomplete): each answers the fields it was
   * fetched with and an error at every other (`src/plan/partial-records.ts`). Made with the first one.
   */
  partialRecords: WeakMap<object, PartialAnswer> | undefined;
  private readonly keys: OperationKeys;
  private readonly shared: SharedLookups;

  constructor(setup: RequestSetup) {
    this.runtime = setup.runtime;
    this.logger = setup.logger;
    this.limits = setup.limits ?? UNBOUNDED;
    this.caller = setup.caller ?? ANONYMOUS;
    this.credentials = setup.credentials ?? new Map();
    this.telemetry = setup.telemetry;
    this.keys = new OperationKeys(this.limits.maxIdsPerProvider);
    this.shared = setup.shared ?? defaultShared(this.logger);
  }

  /**
   * Whether the request sent credentials of its own: its answer may then hold what only that caller
   * may see, and must not be kept by a shared cache (`Cache-Control: private`).
   */
  usesCallerCredentials(): boolean {
    return this.credentials.size > 0;
  }

  servePartial(answer: PartialAnswer): unknown {
    const served = partialView(answer);
    if (typeof served === 'object' && served !== null) {
      this.partialRecords ??= new WeakMap();
      this.partialRecords.set(served, answer);
    }
    if (answer.staleSeconds !== undefined) {
      const fields = answeredFields(answer, this.selected);
      const note: StaleNote = { provider: answer.lookup.provider.name, id: answer.key, ageSeconds: answer.staleSeconds };
      if (fields !== undefined) note.fields = fields;
      this.stale.push(note);
    }
    return served;
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
   * The record `key` names in `lookup` (within `partition`, e.g. one of several accounts of a provider).
   * Every load of the request in the same tick joins one batch. A key that is not valid for the lookup
   * fails alone with BAD_USER_INPUT and is never sent: this is where every id is checked, whatever the way
   * it came in (a root argument after coercion, a default value, an `_entities` representation, an
   * expansion); and where it is counted against what one operation may ask (`OperationKeys`).
   */
  load<R>(lookup: Lookup<R>, key: unknown, partition = ''): Promise<R> {
    const checked = checkKey(lookup.provider, lookup.key, key);
    if (checked instanceof ProviderError) return Promise.reject(checked);
    // One request has one credential scope per provider and partition: the budget is per scope.
    const scope = this.credentials.get(lookup.provider.name)?.get(partition)?.scope ?? '';
    const own = lookup.in(this.runtime)?.maxKeysPerOperation?.(fieldsOf(lookup, this.selected));
    const refused = this.keys.admit(lookup, checked, partition, scope, own);
    if (refused !== undefined) return Promise.reject(refused);
    return this.loader(lookup, partition).load(checked);
  }

  /** Gives the request's `lookup` a record it came by otherwise, so that loading `key` costs no call. */
  prime<R>(lookup: Lookup<R>, key: string, value: R | ProviderError, partition = ''): void {
    this.keys.prime(lookup, key, partition);
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
