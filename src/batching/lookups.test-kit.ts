import type { ProviderError } from '../core/errors.js';
import { type FetchScope, Lookup, type LookupCalls, Runtime } from '../core/lookup.js';
import type { CallerCredential, FieldSet, KeySpec, ProviderId } from '../core/types.js';
import type { LookupCall, PartialAnswer, RequestSink } from './lookup-call.js';

/**
 * What the unit tests of the shared layer (`coalescer`, `cache-triage`, `shared-lookups`) drive it with:
 * a lookup whose "upstream" is a function that records each call, and requests that record what they
 * were served. Not part of the build (`*.test-kit.ts`).
 */

export const PROVIDER: ProviderId = { name: 'demo', label: 'Demo' };

/** A record: its key, and the fields it was fetched with. */
export type Row = { id: string; fields: FieldSet };

export interface Upstream {
  calls: Array<{ keys: string[]; fields: FieldSet; credential: string | undefined; signal: AbortSignal }>;
  /** What the next calls answer: a row per known key (ids below 1000), or a thrown error. */
  fail?: ProviderError;
  /** Per key, an answer instead of the row (an error, an incomplete record). */
  answers?: Map<string, Row | ProviderError>;
  /** Calls wait for this before answering, when set. */
  gate?: Promise<void>;
}

/** A lookup, its calls and the runtime they are bound in: what a `LookupCall` is made of. */
export interface TestLookup {
  lookup: Lookup<Row>;
  calls: LookupCalls<Row>;
  runtime: Runtime;
}

export interface TestLookupOptions {
  maxBatchSize?: number;
  name?: string;
  key?: Partial<KeySpec>;
  codec?: LookupCalls<Row>['codec'];
  /** The key a cached row carries (`LookupDefinition.keyOf`). */
  keyOf?: (record: unknown) => string | undefined;
  /** What the upstream allows its calls (the budget planner's input). */
  budget?: LookupCalls<Row>['budget'];
  /** Where it is bound (another lookup's, for one that primes it). */
  runtime?: Runtime;
  /** Runs around the upstream's answer (a lookup that primes another). */
  fetch?: (
    keys: readonly string[],
    scope: FetchScope,
    upstream: () => Promise<Map<string, Row | ProviderError>>,
  ) => Promise<Map<string, Row | ProviderError>>;
}

export function lookupOn(upstream: Upstream, options: TestLookupOptions = {}): TestLookup {
  const lookup = new Lookup<Row>({
    provider: PROVIDER,
    name: options.name ?? 'users',
    type: 'DemoUser',
    key: { isValid: () => true, expected: 'an id', ...options.key },
    // Each selected field `DemoUser.x` needs the upstream field `x`, but `id`, which comes always.
    // Everything mappable (no selection): the fields the tests select.
    fields: (selected) =>
      [...(selected ?? ['a', 'b', 'c'].map((field) => `DemoUser.${field}`))]
        .map((coordinate) => coordinate.slice('DemoUser.'.length))
        .filter((field) => field !== 'id')
        .sort(),
    ...(options.keyOf === undefined ? {} : { keyOf: options.keyOf }),
  });
  const answer = async (keys: readonly string[], scope: FetchScope): Promise<Map<string, Row | ProviderError>> => {
    upstream.calls.push({ keys: [...keys], fields: scope.fields, credential: scope.credential?.token, signal: scope.signal });
    await upstream.gate;
    if (scope.signal.aborted) throw scope.signal.reason;
    if (upstream.fail) throw upstream.fail;
    const found = new Map<string, Row | ProviderError>();
    for (const key of keys) {
      const given = upstream.answers?.get(key);
      if (given !== undefined) found.set(key, given);
      else if (Number(key) < 1000) found.set(key, { id: key, fields: scope.fields });
    }
    return found;
  };
  const calls: LookupCalls<Row> = {
    maxBatchSize: options.maxBatchSize ?? 3,
    fetch: (keys, scope) => (options.fetch === undefined ? answer(keys, scope) : options.fetch(keys, scope, () => answer(keys, scope))),
    ...(options.codec === undefined ? {} : { codec: options.codec }),
    ...(options.budget === undefined ? {} : { budget: options.budget }),
  };
  const runtime = options.runtime ?? new Runtime();
  lookup.bind(runtime, calls);
  return { lookup, calls, runtime };
}

export interface TestRequest extends RequestSink {
  controller: AbortController;
  /** What `servePartial` was told, in order. */
  partial: PartialAnswer[];
}

export function request(): TestRequest {
  const controller = new AbortController();
  const partial: PartialAnswer[] = [];
  return {
    controller,
    partial,
    signal: controller.signal,
    prime: () => {},
    servePartial: (answer) => {
      partial.push(answer);
      return answer.record;
    },
  };
}

export function callOf(
  { lookup, calls, runtime }: TestLookup,
  req: TestRequest,
  fields: FieldSet = [],
  credential?: CallerCredential,
): LookupCall<Row> {
  return { lookup, calls, runtime, partition: '', credential, fields, request: req };
}
