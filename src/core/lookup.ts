import type DataLoader from 'dataloader';
import type { Logger } from 'pino';
import { ProviderError } from './errors.js';
import type { CallerCredential, FieldSet, KeySpec, ProviderId, SelectedFields } from './types.js';

/**
 * A lookup: one upstream "get many by key" call (X's `GET /2/users`, Telegram's `users.getUsers`), in two
 * halves. What everything but its client knows of it — its keys, the fields an operation needs of it —
 * is the `Lookup`, defined once by its provider and named by resolvers (`context.load(xUsers, id)`). What
 * runs it — its client's calls — is bound to it in a `Runtime` (one running app's clients) when the
 * client is made, and reached only through `lookup.in(runtime)`, typed by the record the lookup answers:
 * no client travels through the core, and nothing there is cast to reach one.
 */

/** One running app's clients: what lookups and providers bind their clients' calls to. A token; it holds nothing. */
export class Runtime {
  /** No other object passes for a runtime (a map of clients, say). */
  readonly kind = 'runtime';
}

/** A value per runtime (a provider's client, a lookup's calls), typed: what a provider keeps for its own code to reach. */
export class RuntimeSlot<T> {
  readonly #values = new WeakMap<Runtime, T>();

  in(runtime: Runtime): T | undefined {
    return this.#values.get(runtime);
  }

  set(runtime: Runtime, value: T): void {
    this.#values.set(runtime, value);
  }
}

/** What a lookup is, as its provider defines it. */
/** A lookup's own ceiling on distinct keys per operation: `variable` sets `max`; `why` is the error's message. */
export interface KeyCeiling {
  variable: string;
  max: number;
  why: string;
}

export interface LookupDefinition {
  readonly provider: ProviderId;
  /** Names the lookup in logs and cache keys (`users`, `usersByUsername`); unique within the provider. */
  readonly name: string;
  /**
   * The GraphQL object type its records resolve as (`XUser`): a record that answers only some fields
   * (stale, or incomplete) answers each field of this type whose upstream fields it was fetched with.
   */
  readonly type: string;
  readonly key: KeySpec;
  /** The upstream fields an operation that selects `selected` needs; `undefined`: everything mappable. */
  fields(selected: SelectedFields | undefined): FieldSet;
  /**
   * Of a field set, the entries that shape the record itself; the others only bring other records along
   * in the same call (X's `expansions` and the fields of what they expand). A cached record answers
   * when it was fetched with these: what came along is looked up in its own lookup. Default: all.
   */
  recordFields?(fields: FieldSet): FieldSet;
  /**
   * The other keys a cached record of this lookup is cached under, in other lookups of the provider (an X
   * user by id is also cached by username): evicting the user evicts them too. `record` is as cached (the
   * lookup's codec's encoding, or the record itself), and read defensively.
   */
  aliases?(record: unknown): ReadonlyArray<{ lookup: string; key: string }>;
  /**
   * The key a cached record carries (its id, or its username for a lookup by username), read defensively
   * from what the cache holds (before the codec): a cached record that carries another key, or none, is
   * not served (issue 20: another user's record copied under a key, with its place rewritten, answered as
   * that user). Undefined: records are not checked so (a lookup with a codec checks in `decode`).
   */
  keyOf?(record: unknown): string | undefined;
  /**
   * Whether what a shared cache (Redis) holds is a record of this lookup at all: its upstream's wire
   * schema. An entry read from Redis whose record is not is a miss (a record of another shape would answer
   * `null` without an error, or fail its item). This process's own memory is not checked so.
   */
  isRecord?(record: unknown): boolean;
}

/** What runs a lookup: its client's calls, bound to it in a runtime. */
/** A lookup's own ceiling on distinct keys per operation: `variable` sets `max`; `why` is the error's message. */
export interface KeyCeiling {
  variable: string;
  max: number;
  why: string;
}

export interface LookupCalls<R> {
  /** Most distinct keys one `fetch` takes; the core cuts larger batches. */
  readonly maxBatchSize: number;
  /**
   * One upstream call (or, for a provider that needs it, a bounded set of calls) for distinct keys. The
   * result is keyed by the (normalized) key; a key absent from it was not found. A whole-call failure is
   * thrown as a ProviderError and reported at every key.
   */
  fetch(keys: readonly string[], scope: FetchScope): Promise<Map<string, R | ProviderError>>;
  /**
   * A ceiling of the lookup's own on the distinct keys one operation may ask with these fields, beyond
   * the provider-wide MAX_IDS_PER_OPERATION: for a call that costs one upstream request per key.
   */
  maxKeysPerOperation?(fields: FieldSet): KeyCeiling | undefined;
  /**
   * How a record is kept in the record cache, which may be Redis (JSON). Without one, a record is kept
   * as it is: right for plain JSON records; a record with binary parts (MTProto's) needs its own.
   * `decode` throws on what it cannot read (another version's entry): that is a miss.
   */
  readonly codec?: { encode(record: R): unknown; decode(stored: unknown): R };
  /**
   * What the upstream allows this lookup's calls under credential `scope` ('' for the server's own): the
   * budget planner takes a permit of it before each call (`src/batching/planner.ts`); `partition` as in
   * `FetchScope` (a Bitrix24 portal). Without one, calls
   * go as soon as their batch closes, whatever the upstream allows.
   */
  budget?(scope: string, partition: string): CallBudget;
}

/**
 * What an upstream allows one lookup's calls under one credential scope, asked before a call goes:
 * `window`, while its window has calls left (a full batch, or one whose oldest key is due); `paced`, only
 * at the pace the window sustains until it resets (a batch that is not full). Implementations:
 * `src/upstream/call-budget.ts`.
 */
export interface CallBudget {
  take(kind: 'window' | 'paced'): Permit | Promise<Permit>;
  /**
   * The queue of misses this budget's calls share with the other replicas (Redis), named `queue` (a
   * lookup and partition); none when the budget is this process's alone.
   */
  share?(queue: string): SharedQueue;
}

/**
 * Misses that wait for a call to fill, shared by every replica (`src/upstream/shared-queue.ts`): a
 * replica holding partial calls parks its keys; whichever replica next takes a permit takes the oldest
 * parked keys of the others with it, so that across replicas every call carries the fullest batch. A key
 * another replica took is that replica's to fetch: its owner waits for the answer in the shared cache.
 */
export interface SharedQueue {
  /** Parks keys this replica waits to send, each with the fields its requests need. */
  park(keys: ReadonlyArray<{ key: string; fields: FieldSet }>): Promise<void>;
  /** Takes parked keys back (their requests went away, or they go in this replica's own call). */
  unpark(keys: readonly string[]): Promise<void>;
  /**
   * One atomic step: which of `mine` (the keys this replica's next call would carry) another replica took
   * already; a permit of `kind`; and with it, up to `room` minus what is left of `mine`, the oldest keys
   * the other replicas parked, which this call carries too.
   */
  take(kind: 'window' | 'paced', mine: readonly string[], room: number): Promise<SharedTake>;
  /** Which of `parked` another replica took (each said once). */
  taken(parked: readonly string[]): Promise<string[]>;
}

export interface SharedTake {
  permit: Permit;
  /** Of `mine`, the keys another replica took: not this replica's to send any more. */
  takenFromMe: string[];
  /** Other replicas' keys this call carries, with the fields their requests need. */
  theirs: Array<{ key: string; fields: FieldSet }>;
}

/** A permit, or when to ask again; `exhausted`: the window has no call left before `retryInMs`. */
export type Permit = { granted: true } | { granted: false; retryInMs: number; exhausted: boolean };

/**
 * A budget's answer that the call it was asked for has nothing to carry and took no permit: every key it
 * would have carried left the queue meanwhile (another replica's call took them: the shared queue's script answers it, `RedisSharedQueue.take`). The
 * planner decides again on what the queue holds now, and refuses nothing for it; to anything else it reads
 * as a refusal to ask again at once. Only ever answered once those keys have left, so that deciding again
 * moves on.
 */
export const NOTHING_TO_SEND: Permit = Object.freeze({ granted: false, retryInMs: 0, exhausted: false });

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
  prime<P>(lookup: Lookup<P>, key: string, value: P | ProviderError, fields?: FieldSet): void;
  /**
   * The caller's own credential for this provider (and partition), when it sent one: the call is made
   * with its token instead of the server's, and its `scope` is the call's `UpstreamRequest.scope`.
   */
  credential?: CallerCredential;
  logger: Logger;
}

/** A lookup as resolvers, plans and the request context name it; its calls are bound per runtime. */
export class Lookup<R> implements LookupDefinition {
  readonly provider: ProviderId;
  readonly name: string;
  readonly type: string;
  readonly key: KeySpec;
  readonly #definition: LookupDefinition;
  readonly #calls = new RuntimeSlot<LookupCalls<R>>();
  /** Per request (the owner given), per partition: its loader of this lookup. */
  readonly #loaders = new WeakMap<object, Map<string, DataLoader<string, R, string>>>();

  constructor(definition: LookupDefinition) {
    this.provider = definition.provider;
    this.name = definition.name;
    this.type = definition.type;
    this.key = definition.key;
    this.#definition = definition;
  }

  fields(selected: SelectedFields | undefined): FieldSet {
    return this.#definition.fields(selected);
  }

  /** The fields a cached record itself must have been fetched with (`LookupDefinition.recordFields`). */
  recordFields(fields: FieldSet): FieldSet {
    return this.#definition.recordFields?.(fields) ?? fields;
  }

  /** Whether a cached record carries `key` (`LookupDefinition.keyOf`); true for a lookup that does not say. */
  carries(record: unknown, key: string): boolean {
    const keyOf = this.#definition.keyOf;
    return keyOf === undefined || keyOf(record) === key;
  }

  /** Whether a record read from a shared cache is one of this lookup's (`LookupDefinition.isRecord`); true for a lookup that does not say. */
  isRecord(record: unknown): boolean {
    return this.#definition.isRecord?.(record) ?? true;
  }

  /** The other keys a cached record is cached under (`LookupDefinition.aliases`). */
  aliasesOf(record: unknown): ReadonlyArray<{ lookup: string; key: string }> {
    return this.#definition.aliases?.(record) ?? [];
  }

  /** The calls that run this lookup in `runtime`; undefined when its provider is not configured there. */
  in(runtime: Runtime): LookupCalls<R> | undefined {
    return this.#calls.in(runtime);
  }

  /** Binds this lookup, in `runtime`, to its client's calls: what a provider does once its client is made. */
  bind(runtime: Runtime, calls: LookupCalls<R>): void {
    this.#calls.set(runtime, calls);
  }

  /** `owner`'s loader of this lookup in `partition` (a request's: `RequestContext`), made by `make` on first use. */
  loaderOf(owner: object, partition: string, make: () => DataLoader<string, R, string>): DataLoader<string, R, string> {
    let byPartition = this.#loaders.get(owner);
    if (byPartition === undefined) {
      byPartition = new Map();
      this.#loaders.set(owner, byPartition);
    }
    let loader = byPartition.get(partition);
    if (loader === undefined) {
      loader = make();
      byPartition.set(partition, loader);
    }
    return loader;
  }
}

/** What a resolver may ask of the request it resolves for (the generated resolver types' context). */
export interface ResolverContext {
  /** The record `key` names in `lookup`, within `partition` (a Bitrix24 portal); rejects with a ProviderError. */
  load<R>(lookup: Lookup<R>, key: unknown, partition?: string): Promise<R>;
  /** The running app the request is served by: where a provider finds what it bound (`RuntimeSlot`). */
  readonly runtime: Runtime;
}

/**
 * `key` as the lookup's text, or the error to answer when `spec` refuses it. An integer is taken as its
 * decimal text, as GraphQL's `ID` coerces one (an `_entities` representation is raw JSON).
 */
export function checkKey(provider: ProviderId, spec: KeySpec, key: unknown): string | ProviderError {
  const text = typeof key === 'string' ? key : Number.isSafeInteger(key) ? String(key) : undefined;
  if (text !== undefined && spec.isValid(text)) return text;
  const shown = shownKey(key);
  return new ProviderError({ code: 'BAD_USER_INPUT', provider, id: shown }, `${JSON.stringify(shown)} is not ${spec.expected}`);
}

/**
 * Any key as text an error may echo: at most a little of what was sent (enough to find it, never a
 * megabyte of it), and never a throw: a GraphQL object literal has no prototype, so `String()` of one fails.
 */
export function shownKey(key: unknown): string {
  let raw: string;
  if (typeof key === 'string') raw = key;
  else {
    try {
      raw = JSON.stringify(key) ?? typeof key;
    } catch {
      raw = typeof key;
    }
  }
  return raw.length > 64 ? `${raw.slice(0, 64)}…` : raw;
}

/**
 * A root-field argument that carries keys of a lookup (or keys checked like one): whose, and what a valid
 * one is. The field answers a list aligned with its arguments' items, in the order they are listed here
 * (`telegramUsers`: the users for `ids`, then those for `usernames`).
 */
export interface IdArgument {
  field: string;
  argument: string;
  lookup: Pick<Lookup<unknown>, 'provider' | 'key'>;
}
