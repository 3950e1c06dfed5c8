import type { FieldSet, Lookup, ProviderId } from '../providers/provider.js';
import type { ProviderError } from '../upstream/errors.js';
import type { CallerCredential, LookupCall, PartialAnswer, RequestSink } from './lookup-call.js';

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

export function lookupOn(upstream: Upstream, maxBatchSize = 3): Lookup<never, Row> {
  return {
    provider: PROVIDER,
    name: 'users',
    type: 'DemoUser',
    key: { isValid: () => true, expected: 'an id' },
    maxBatchSize: () => maxBatchSize,
    // Each selected field `DemoUser.x` needs the upstream field `x`, but `id`, which comes always.
    fields: (selected) =>
      [...(selected ?? [])]
        .map((coordinate) => coordinate.slice('DemoUser.'.length))
        .filter((field) => field !== 'id')
        .sort(),
    async fetch(_client, keys, scope) {
      upstream.calls.push({ keys: [...keys], fields: scope.fields, credential: scope.credential?.token, signal: scope.signal });
      await upstream.gate;
      if (scope.signal.aborted) throw scope.signal.reason;
      if (upstream.fail) throw upstream.fail;
      const found = new Map<string, Row | ProviderError>();
      for (const key of keys) {
        const answer = upstream.answers?.get(key);
        if (answer !== undefined) found.set(key, answer);
        else if (Number(key) < 1000) found.set(key, { id: key, fields: scope.fields });
      }
      return found;
    },
  };
}

export interface TestRequest extends RequestSink {
  controller: AbortController;
  /** What `servePartial` was told, in order. */
  partial: PartialAnswer[];
}

export function request(): TestRequest {
  const controller = new AbortController();
  const partial: PartialAnswer[] = [];
  return { controller, partial, signal: controller.signal, prime: () => {}, servePartial: (answer) => partial.push(answer) };
}

export function callOf(
  lookup: Lookup<never, Row>,
  req: TestRequest,
  fields: FieldSet = [],
  credential?: CallerCredential,
): LookupCall<Row> {
  return { lookup, client: undefined, partition: '', credential, fields, request: req };
}
