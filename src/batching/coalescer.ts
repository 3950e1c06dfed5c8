import type { Logger } from 'pino';
import { covers, union } from '../cache/entry.js';
import type { Clock } from '../core/clock.js';
import { abandoned, batchFailure, ProviderError, WorkAbandoned } from '../core/errors.js';
import type { Lookup } from '../core/lookup.js';
import type { FieldSet } from '../core/types.js';
import { coalescedIds, upstreamBatchSize } from '../telemetry/metrics.js';
import { watchUpstream } from '../telemetry/operation.js';
import type { CallTarget, LookupCall, RequestSink } from './lookup-call.js';

/**
 * Coalescing: the keys that concurrent requests ask of one lookup, in one credential scope and
 * partition, at about the same moment, join one upstream call.
 *
 * - `fetch(call, keys)` resolves the upstream's answer for each of the request's keys (a record or a
 *   `ProviderError`; a key the upstream left out is NOT_FOUND), and for no other key.
 * - Keys wait up to `windowMs` for others (0: only those asked in the same turn of the event loop); a
 *   full chunk of the lookup's `maxBatchSize` goes at once. A key already on its way, with every field
 *   the request needs, is awaited, not asked again.
 * - A request that goes away stops waiting alone; a call no request waits for any more is aborted.
 * - What each call brought back (its answers, and the records that came along, per lookup and field
 *   set) is handed to `onAnswers` once, before any waiter hears of it: the cache stores it there.
 */
export interface CoalescerOptions {
  /** How long keys wait for others before their call goes (ms); 0: only those asked in the same turn. */
  windowMs: number;
  clock: Clock;
  logger: Logger;
  onAnswers?(target: CallTarget, fields: FieldSet, answers: ReadonlyMap<string, unknown>): void;
}

export class Coalescer {
  private readonly groups = new Map<string, Group>();

  constructor(private readonly options: CoalescerOptions) {}

  /**
   * The upstream's answers for `keys` (distinct), asked with the request's fields and, per key in
   * `grow`, those fields too (what its cache entry already has: the entry grows instead of shrinking).
   */
  fetch<R>(call: LookupCall<R>, keys: readonly string[], grow?: ReadonlyMap<string, FieldSet>): Promise<Map<string, R | ProviderError>> {
    // A request that went away asks for nothing, and must not leave a group behind it.
    const { signal } = call.request;
    if (signal.aborted) return Promise.reject(abandoned(call.lookup.provider, signal));
    const id = groupId(call);
    let group = this.groups.get(id);
    if (group === undefined) {
      const { lookup, calls, runtime, partition, credential } = call;
      // Dropped when idle: a group per credential scope must not outlive its last call.
      const created = new Group({ lookup, calls, runtime, partition, credential }, this.options, () => {
        if (this.groups.get(id) === created) this.groups.delete(id);
      });
      group = created;
      this.groups.set(id, group);
    }
    return group.request(call, keys, grow) as Promise<Map<string, R | ProviderError>>;
  }

  /** Whether `key` waits for its call, or is on its way upstream, in `target`'s group. */
  has(target: CallTarget, key: string): boolean {
    return this.groups.get(groupId(target))?.has(key) ?? false;
  }

  /** Groups alive now (each has calls pending or in flight): what per-scope state costs. */
  get groupCount(): number {
    return this.groups.size;
  }
}

/** One group per lookup, credential scope and partition. */
function groupId(target: CallTarget): string {
  return `${target.lookup.provider.name}\u0000${target.lookup.name}\u0000${target.credential?.scope ?? ''}\u0000${target.partition}`;
}

/** One request's wait for some of its keys. */
interface Waiter {
  readonly signal: AbortSignal;
  readonly sink: RequestSink;
  readonly answers: Map<string, unknown>;
  outstanding: number;
  settled: boolean;
  resolve(answers: Map<string, unknown>): void;
  reject(error: unknown): void;
}

/** A key waiting for its call to go: who waits for it, and the fields they need. */
interface PendingKey {
  fields: Set<string>;
  waiters: Set<Waiter>;
}

/** A call on its way upstream, for some keys, with some fields. */
interface Flight {
  readonly fields: FieldSet;
  readonly waiters: Map<Waiter, string[]>;
  readonly controller: AbortController;
}

interface Prime {
  lookup: Lookup<unknown>;
  key: string;
  value: unknown;
  fields: FieldSet | undefined;
}

class Group {
  private readonly pending = new Map<string, PendingKey>();
  private readonly inFlight = new Map<string, Flight>();
  private cancelTimer: (() => void) | undefined;
  private readonly maxBatchSize: number;

  constructor(
    /** What every call of the group is made with: never a request's own context, which must not outlive it. */
    private readonly target: CallTarget,
    private readonly options: CoalescerOptions,
    private readonly onIdle: () => void,
  ) {
    this.maxBatchSize = target.calls.maxBatchSize;
  }

  request(
    call: LookupCall<unknown>,
    keys: readonly string[],
    grow: ReadonlyMap<string, FieldSet> | undefined,
  ): Promise<Map<string, unknown>> {
    const { signal } = call.request;
    return new Promise((resolve, reject) => {
      const onAbort = () => this.leave(waiter);
      const waiter: Waiter = {
        signal,
        sink: call.request,
        answers: new Map(),
        outstanding: keys.length,
        settled: false,
        resolve: (answers) => {
          signal.removeEventListener('abort', onAbort);
          resolve(answers);
        },
        reject,
      };
      let joined = 0;
      for (const key of keys) {
        const more = grow?.get(key);
        const need = more === undefined ? call.fields : union(call.fields, more);
        const flight = this.inFlight.get(key);
        if (flight !== undefined && covers(flight.fields, need)) {
          // Already on its way with every field this request needs: wait for it.
          const mine = flight.waiters.get(waiter);
          if (mine === undefined) flight.waiters.set(waiter, [key]);
          else mine.push(key);
          joined++;
          continue;
        }
        let entry = this.pending.get(key);
        if (entry === undefined) {
          entry = { fields: new Set(), waiters: new Set() };
          this.pending.set(key, entry);
        } else if (!entry.waiters.has(waiter)) {
          joined++;
        }
        for (const field of need) entry.fields.add(field);
        entry.waiters.add(waiter);
      }
      if (joined > 0) coalescedIds.inc({ provider: call.lookup.provider.name }, joined);
      signal.addEventListener('abort', onAbort, { once: true });
      this.schedule();
    });
  }

  has(key: string): boolean {
    return this.pending.has(key) || this.inFlight.has(key);
  }

  /** Sends full chunks at once, the rest when the window closes. */
  private schedule(): void {
    while (this.pending.size >= this.maxBatchSize) this.flush(this.maxBatchSize);
    if (this.pending.size === 0 || this.cancelTimer !== undefined) return;
    const go = () => {
      this.cancelTimer = undefined;
      while (this.pending.size > 0) this.flush(this.maxBatchSize);
    };
    if (this.options.windowMs <= 0) {
      // Only the keys asked for in this turn of the event loop: the same request's batch, and others'.
      const immediate = setImmediate(go);
      this.cancelTimer = () => clearImmediate(immediate);
    } else {
      this.cancelTimer = this.options.clock.setTimer(go, this.options.windowMs);
    }
  }

  /** Sends one call for up to `size` pending keys, asking for the union of the fields their requests need. */
  private flush(size: number): void {
    const taken: Array<[string, PendingKey]> = [];
    for (const pending of this.pending) {
      if (taken.length === size) break;
      taken.push(pending);
    }
    if (taken.length === 0) return;
    const fields = new Set<string>();
    const waiters = new Map<Waiter, string[]>();
    for (const [key, entry] of taken) {
      this.pending.delete(key);
      for (const field of entry.fields) fields.add(field);
      for (const waiter of entry.waiters) {
        const mine = waiters.get(waiter);
        if (mine === undefined) waiters.set(waiter, [key]);
        else mine.push(key);
      }
    }
    const flight: Flight = { fields: [...fields].sort(), waiters, controller: new AbortController() };
    const keys = taken.map(([key]) => key);
    // The call's signal names it to the upstream layer: each request it sends counts for every request still waiting.
    watchUpstream(flight.controller.signal, {
      onRequest(provider) {
        for (const waiter of flight.waiters.keys()) if (!waiter.settled) waiter.sink.noteUpstream?.(provider);
      },
      waiting() {
        const requestIds: string[] = [];
        const traceIds: string[] = [];
        for (const waiter of flight.waiters.keys()) {
          if (waiter.settled) continue;
          if (waiter.sink.requestId !== undefined) requestIds.push(waiter.sink.requestId);
          if (waiter.sink.traceId !== undefined) traceIds.push(waiter.sink.traceId);
        }
        return { requestIds, traceIds };
      },
    });
    for (const key of keys) this.inFlight.set(key, flight);
    void this.send(keys, flight);
  }

  private async send(keys: string[], flight: Flight): Promise<void> {
    const { lookup, calls, partition, credential } = this.target;
    const { logger } = this.options;
    const provider = lookup.provider;
    upstreamBatchSize.observe({ provider: provider.name }, keys.length);
    const primes: Prime[] = [];
    let answers: Map<string, unknown>;
    try {
      answers = await calls.fetch(keys, {
        partition,
        fields: flight.fields,
        signal: flight.controller.signal,
        credential,
        logger,
        prime: (other, key, value, fields) => {
          primes.push({ lookup: other, key, value, fields });
        },
      });
    } catch (error) {
      // A whole-call failure (rate limit, outage, credentials, or a bug) is reported at every key it covered.
      const failure = batchFailure(error, provider, logger);
      answers = new Map(keys.map((key) => [key, failure.forId(key)]));
    }
    for (const key of keys) {
      if (this.inFlight.get(key) === flight) this.inFlight.delete(key);
      if (!answers.has(key)) answers.set(key, new ProviderError({ code: 'NOT_FOUND', provider, id: key }));
    }
    this.dropIfIdle();

    this.options.onAnswers?.(this.target, flight.fields, answers);
    for (const { lookup: other, fields, records } of byLookupAndFields(primes)) {
      const otherCalls = other.in(this.target.runtime);
      if (otherCalls !== undefined) this.options.onAnswers?.({ ...this.target, lookup: other, calls: otherCalls }, fields, records);
    }
    for (const [waiter, mine] of flight.waiters) {
      if (waiter.settled) continue;
      for (const prime of primes) waiter.sink.prime(prime.lookup, prime.key, prime.value, partition);
      for (const key of mine) waiter.answers.set(key, answers.get(key));
      waiter.outstanding -= mine.length;
      if (waiter.outstanding <= 0) {
        waiter.settled = true;
        waiter.resolve(waiter.answers);
      }
    }
  }

  /** Nothing pending, nothing in flight: the group forgets itself (a later request makes a new one). */
  private dropIfIdle(): void {
    if (this.pending.size === 0 && this.inFlight.size === 0 && this.cancelTimer === undefined) this.onIdle();
  }

  /** A request that went away stops waiting; a call no one waits for any more is dropped. */
  private leave(waiter: Waiter): void {
    if (waiter.settled) return;
    waiter.settled = true;
    waiter.reject(abandoned(this.target.lookup.provider, waiter.signal));
    for (const [key, entry] of this.pending) {
      entry.waiters.delete(waiter);
      if (entry.waiters.size === 0) this.pending.delete(key);
    }
    if (this.pending.size === 0 && this.cancelTimer !== undefined) {
      this.cancelTimer();
      this.cancelTimer = undefined;
    }
    for (const flight of new Set(this.inFlight.values())) {
      if (!flight.waiters.delete(waiter)) continue;
      if ([...flight.waiters.keys()].every((other) => other.settled)) {
        const reason: unknown = waiter.signal.reason;
        flight.controller.abort(
          reason instanceof WorkAbandoned ? reason : new WorkAbandoned('UPSTREAM_UNAVAILABLE', 'no request waits for this call any more'),
        );
      }
    }
    this.dropIfIdle();
  }
}

/** Records that came along, one group per lookup and field set: one cache write each, not one per record. */
function byLookupAndFields(primes: readonly Prime[]): Array<{ lookup: Lookup<unknown>; fields: FieldSet; records: Map<string, unknown> }> {
  const groups = new Map<Lookup<unknown>, Map<string, { lookup: Lookup<unknown>; fields: FieldSet; records: Map<string, unknown> }>>();
  for (const { lookup, key, value, fields } of primes) {
    if (fields === undefined) continue;
    let byFields = groups.get(lookup);
    if (byFields === undefined) {
      byFields = new Map();
      groups.set(lookup, byFields);
    }
    const id = fields.join('\u0000');
    let group = byFields.get(id);
    if (group === undefined) {
      group = { lookup, fields, records: new Map() };
      byFields.set(id, group);
    }
    group.records.set(key, value);
  }
  return [...groups.values()].flatMap((byFields) => [...byFields.values()]);
}
