import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { covers, union } from '../cache/entry.js';
import type { Clock } from '../core/clock.js';
import { abandoned, batchFailure, ProviderError, WorkAbandoned } from '../core/errors.js';
import type { CallBudget, Lookup, Permit } from '../core/lookup.js';
import type { FieldSet } from '../core/types.js';
import { batchFill, coalescedIds, heldSeconds, plannerRefusals, upstreamBatchSize } from '../telemetry/metrics.js';
import { watchUpstream } from '../telemetry/operation.js';
import { BadKeys, isolatingBadInput } from './bad-input.js';
import type { CallTarget, LookupCall, RequestSink } from './lookup-call.js';
import { Planner, type PlannerQueue, type SendReason } from './planner.js';
import { HandedOver, ReplicaQueue } from './replica-queue.js';

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
  /**
   * The budget planner's limits (`planner.ts`), for lookups whose calls have a budget: how long a key waits
   * at most for its call to fill (UPSTREAM_MAX_HOLD_MS), and how many keys one queue holds at most
   * (UPSTREAM_MAX_QUEUED_IDS; beyond, a key answers RATE_LIMITED at once).
   */
  hold?: { maxHoldMs: number; maxQueuedKeys: number };
  /**
   * Whether `target`'s waiting keys may join other replicas' calls through the queue its budget shares
   * (`SharedQueue`): only where another replica's answer reaches this one, through the shared cache and
   * the fetch claims. A key another replica took answers `HandedOver`, for the caller to wait for there.
   */
  shares?(target: CallTarget): boolean;
  clock: Clock;
  logger: Logger;
  onAnswers?(target: CallTarget, fields: FieldSet, answers: ReadonlyMap<string, unknown>): void;
}

export class Coalescer {
  private readonly groups = new Map<string, Group>();
  /** Keys an upstream refused alone: answered BAD_USER_INPUT without a call for a while (`bad-input.ts`). */
  private readonly badKeys: BadKeys;

  constructor(private readonly options: CoalescerOptions) {
    this.badKeys = new BadKeys(() => options.clock.now());
  }

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
      const created = new Group({ lookup, calls, runtime, partition, credential }, this.options, this.badKeys, () => {
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

/**
 * A key waiting for its call to go: who waits for it, the fields they need, and since when (the clock's ms).
 * Most keys have one request waiting and share its field set: no collection is made per key until a second
 * request joins it, or needs more fields (a hundred-id call made two `Set`s per id, 6 % of what it allocated).
 */
interface PendingKey {
  /** Sorted; the first request's own until another needs more. */
  fields: FieldSet;
  waiters: Waiter[];
  since: number;
}

/** A call on its way upstream, for some keys, with some fields. */
interface Flight {
  /** Keys of other replicas it carries (from the shared queue): it is not dropped when no request here waits. */
  theirs: number;
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

class Group implements PlannerQueue {
  /** Keys waiting for their call, oldest first (a Map keeps insertion order). */
  private readonly pending = new Map<string, PendingKey>();
  private readonly inFlight = new Map<string, Flight>();
  private cancelTimer: (() => void) | undefined;
  private readonly maxBatchSize: number;
  /** The lookup, as `badKeys` names it. */
  private readonly badKeysOf: string;
  /** How long this group's keys waited for their call: its provider's histogram child, labelled once. */
  private readonly held: ReturnType<typeof heldSeconds.labels>;
  /** When the lookup's calls have a budget: what decides when each call goes. */
  private readonly planner: Planner | undefined;
  /** With Redis, the group's side of the queue the replicas share (only where their answers reach each other). */
  private readonly replicas: ReplicaQueue | undefined;
  /** What the last shared permit came with: this replica's keys for the call, and the other replicas'. */
  private stash: { mine: string[]; theirs: Array<{ key: string; fields: FieldSet }> } | undefined;

  constructor(
    /** What every call of the group is made with: never a request's own context, which must not outlive it. */
    private readonly target: CallTarget,
    private readonly options: CoalescerOptions,
    private readonly badKeys: BadKeys,
    private readonly onIdle: () => void,
  ) {
    this.maxBatchSize = target.calls.maxBatchSize;
    this.badKeysOf = `${target.lookup.provider.name}:${target.lookup.name}`;
    this.held = heldSeconds.labels({ provider: target.lookup.provider.name });
    const budget = options.hold && target.calls.budget?.(target.credential?.scope ?? '', target.partition);
    this.replicas =
      budget?.share !== undefined && options.shares?.(target)
        ? new ReplicaQueue(budget.share(`${target.lookup.name}:${encodeURIComponent(target.partition)}`), target.lookup, options.clock, {
            waiting: () => this.pending,
            handOver: (keys) => this.handOver(keys),
          })
        : undefined;
    const planned: CallBudget | undefined = budget && (this.replicas === undefined ? budget : { take: (kind) => this.takeShared(kind) });
    this.planner =
      planned &&
      options.hold &&
      new Planner(this, planned, {
        maxBatchSize: this.maxBatchSize,
        windowMs: options.windowMs,
        maxHoldMs: options.hold.maxHoldMs,
        clock: options.clock,
      });
  }

  get size(): number {
    return this.pending.size;
  }

  oldestSince(): number | undefined {
    for (const entry of this.pending.values()) return entry.since;
    return undefined;
  }

  send(reason: SendReason): void {
    const stash = this.stash;
    this.stash = undefined;
    if (stash === undefined) this.flush(this.maxBatchSize, reason);
    else this.flushKeys(stash.mine, stash.theirs, reason);
  }

  sendable(): boolean {
    const stash = this.stash;
    if (stash === undefined) return this.pending.size > 0;
    // A shared permit's call carries the other replicas' keys it took along even when none of this replica's still wait: their owners wait for its answer.
    return stash.theirs.length > 0 || stash.mine.some((key) => this.pending.has(key));
  }

  /** The planner waits: with Redis, this replica's waiting keys are parked for other replicas' calls to take. */
  holding(): void {
    this.replicas?.hold();
  }

  /** One permit from the shared queue's script, with the keys it lets this call carry (`ReplicaQueue.take`). */
  private async takeShared(kind: 'window' | 'paced'): Promise<Permit> {
    // A permit whose call did not go (nothing left to carry) leaves its keys behind: never those of a later call.
    this.stash = undefined;
    const mine: string[] = [];
    for (const key of this.pending.keys()) {
      if (mine.length === this.maxBatchSize) break;
      mine.push(key);
    }
    const taken = await this.replicas!.take(kind, mine, this.maxBatchSize);
    if (taken.permit.granted) this.stash = { mine: taken.mine, theirs: taken.theirs };
    return taken.permit;
  }

  /** Keys another replica's call took: their requests are answered `HandedOver`, to wait for that answer. */
  private handOver(keys: readonly string[]): void {
    if (keys.length === 0) return;
    const { provider } = this.target.lookup;
    for (const key of keys) {
      const entry = this.pending.get(key);
      if (entry === undefined) continue;
      this.pending.delete(key);
      const handed = new HandedOver(provider, key);
      for (const waiter of entry.waiters) this.answer(waiter, key, handed);
    }
    if (this.pending.size === 0) this.planner?.stop();
    this.dropIfIdle();
  }

  refuse(since: number, retryInMs: number): void {
    const { provider } = this.target.lookup;
    const retryAfter = Math.max(1, Math.ceil(retryInMs / 1000));
    const refused: string[] = [];
    for (const [key, entry] of this.pending) {
      if (entry.since > since) break;
      this.pending.delete(key);
      refused.push(key);
      const error = new ProviderError({ code: 'RATE_LIMITED', provider, id: key, retryAfter });
      for (const waiter of entry.waiters) this.answer(waiter, key, error);
    }
    if (refused.length > 0) plannerRefusals.inc({ provider: provider.name, reason: 'exhausted' }, refused.length);
    this.replicas?.leave(refused);
    this.dropIfIdle();
  }

  /** Gives `waiter` its answer for `key`; resolves it once it has every answer. */
  private answer(waiter: Waiter, key: string, value: unknown): void {
    if (waiter.settled) return;
    waiter.answers.set(key, value);
    waiter.outstanding -= 1;
    if (waiter.outstanding <= 0) {
      waiter.settled = true;
      waiter.resolve(waiter.answers);
    }
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
      const full: string[] = [];
      for (const key of keys) {
        const refused = this.badKeys.refusal(this.badKeysOf, key);
        if (refused !== undefined) {
          // Refused by the upstream alone a moment ago: not replayed into anyone's call.
          this.answer(waiter, key, refused);
          continue;
        }
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
        const entry = this.pending.get(key);
        if (entry === undefined) {
          if (this.options.hold !== undefined && this.planner !== undefined && this.pending.size >= this.options.hold.maxQueuedKeys) {
            // The queue is full: this key answers at once rather than wait behind a backlog the budget cannot clear.
            full.push(key);
            continue;
          }
          this.pending.set(key, { fields: need, waiters: [waiter], since: this.options.clock.now() });
          continue;
        }
        if (!entry.waiters.includes(waiter)) {
          joined++;
          entry.waiters.push(waiter);
        }
        if (entry.fields !== need && !covers(entry.fields, need)) entry.fields = union(entry.fields, need);
      }
      if (joined > 0) coalescedIds.inc({ provider: call.lookup.provider.name }, joined);
      if (!waiter.settled) signal.addEventListener('abort', onAbort, { once: true });
      if (full.length > 0) {
        const { provider } = call.lookup;
        plannerRefusals.inc({ provider: provider.name, reason: 'queue_full' }, full.length);
        // A spent window: its reset is when a retry can be answered; otherwise about a hold from now the backlog has moved.
        const retryInMs = this.planner?.exhaustedForMs() ?? this.options.hold?.maxHoldMs ?? 1000;
        const retryAfter = Math.max(1, Math.ceil(retryInMs / 1000));
        for (const key of full) this.answer(waiter, key, new ProviderError({ code: 'RATE_LIMITED', provider, id: key, retryAfter }));
      }
      this.schedule();
    });
  }

  has(key: string): boolean {
    return this.pending.has(key) || this.inFlight.has(key);
  }

  /** Sends full chunks at once, the rest when the window closes; with a budget, as the planner decides. */
  private schedule(): void {
    if (this.planner !== undefined) {
      if (this.pending.size > 0) this.planner.poke();
      return;
    }
    while (this.pending.size >= this.maxBatchSize) this.flush(this.maxBatchSize, 'unplanned');
    if (this.pending.size === 0 || this.cancelTimer !== undefined) return;
    const go = () => {
      this.cancelTimer = undefined;
      while (this.pending.size > 0) this.flush(this.maxBatchSize, 'unplanned');
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
  private flush(size: number, reason: SendReason | 'unplanned'): void {
    const keys: string[] = [];
    for (const key of this.pending.keys()) {
      if (keys.length === size) break;
      keys.push(key);
    }
    this.flushKeys(keys, [], reason);
  }

  /** Sends one call for `mine` (pending here) and `theirs` (other replicas' keys, from the shared queue). */
  private flushKeys(
    mine: readonly string[],
    theirs: ReadonlyArray<{ key: string; fields: readonly string[] }>,
    reason: SendReason | 'unplanned',
  ): void {
    const taken: Array<[string, PendingKey]> = [];
    for (const key of mine) {
      const entry = this.pending.get(key);
      if (entry !== undefined) taken.push([key, entry]);
    }
    const own = new Set(mine);
    const carried = theirs.filter(({ key }) => !this.pending.has(key) && !own.has(key));
    if (taken.length + carried.length === 0) return;
    const provider = this.target.lookup.provider.name;
    batchFill.observe({ provider, reason }, (taken.length + carried.length) / this.maxBatchSize);
    const now = this.options.clock.now();
    for (const [, entry] of taken) this.held.observe(Math.max(0, now - entry.since) / 1000);
    const fields = new Set<string>();
    const waiters = new Map<Waiter, string[]>();
    let added: FieldSet | undefined;
    for (const [key, entry] of taken) {
      this.pending.delete(key);
      // Keys of one request share its field set: added once, not once per key.
      if (entry.fields !== added) {
        for (const field of entry.fields) fields.add(field);
        added = entry.fields;
      }
      for (const waiter of entry.waiters) {
        const mine = waiters.get(waiter);
        if (mine === undefined) waiters.set(waiter, [key]);
        else mine.push(key);
      }
    }
    for (const { fields: theirFields } of carried) for (const field of theirFields) fields.add(field);
    const controller = new AbortController();
    // A call that is split to find a refused id (bad-input.ts) listens to it once per part: more than Node's warning threshold of 10.
    setMaxListeners(1_000, controller.signal);
    const flight: Flight = { fields: [...fields].sort(), waiters, controller, theirs: carried.length };
    const keys = [...taken.map(([key]) => key), ...carried.map(({ key }) => key)];
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
    void this.call(keys, flight);
  }

  private async call(keys: string[], flight: Flight): Promise<void> {
    const { lookup, calls, partition, credential } = this.target;
    const { logger } = this.options;
    const provider = lookup.provider;
    upstreamBatchSize.observe({ provider: provider.name }, keys.length);
    const primes: Prime[] = [];
    let answers: Map<string, unknown>;
    const scope = {
      partition,
      fields: flight.fields,
      signal: flight.controller.signal,
      credential,
      logger,
      prime: (other: Lookup<unknown>, key: string, value: unknown, fields?: FieldSet) => {
        primes.push({ lookup: other, key, value, fields });
      },
    };
    try {
      // One request's key that the upstream refuses must not fail the others' keys in the same call.
      answers = await isolatingBadInput(
        keys,
        (some) => calls.fetch(some, scope),
        () => scope.signal.aborted,
        (key, error) => this.badKeys.remember(this.badKeysOf, key, error),
      );
    } catch (error) {
      // A whole-call failure (rate limit, outage, credentials, or a bug) is reported at every key it covered.
      const failure = batchFailure(error, provider, logger);
      answers = new Map(keys.map((key) => [key, failure.forId(key)]));
    }
    for (const key of keys) {
      if (this.inFlight.get(key) === flight) this.inFlight.delete(key);
      if (!answers.has(key)) answers.set(key, new ProviderError({ code: 'NOT_FOUND', provider, id: key }));
    }
    // The answer may have told the budget more (X's remaining calls): what waits may go now.
    if (this.planner !== undefined && this.pending.size > 0) this.planner.poke(true);
    this.dropIfIdle();

    this.options.onAnswers?.(this.target, flight.fields, answers);
    for (const { lookup: other, fields, records } of byLookupAndFields(primes)) {
      const otherCalls = other.in(this.target.runtime);
      if (otherCalls !== undefined) this.options.onAnswers?.({ ...this.target, lookup: other, calls: otherCalls }, fields, records);
    }
    for (const [waiter, mine] of flight.waiters) {
      if (waiter.settled) continue;
      for (const prime of primes) waiter.sink.prime(prime.lookup, prime.key, prime.value, partition);
      for (const key of mine) this.answer(waiter, key, answers.get(key));
    }
  }

  /** Nothing pending, nothing in flight: the group forgets itself (a later request makes a new one). */
  private dropIfIdle(): void {
    if (this.pending.size === 0) {
      this.planner?.stop();
      this.replicas?.stop();
    }
    if (this.pending.size === 0 && this.inFlight.size === 0 && this.cancelTimer === undefined && !this.planner?.busy) this.onIdle();
  }

  /** A request that went away stops waiting; a call no one waits for any more is dropped. */
  private leave(waiter: Waiter): void {
    if (waiter.settled) return;
    waiter.settled = true;
    waiter.reject(abandoned(this.target.lookup.provider, waiter.signal));
    const gone: string[] = [];
    for (const [key, entry] of this.pending) {
      const at = entry.waiters.indexOf(waiter);
      if (at >= 0) entry.waiters.splice(at, 1);
      if (entry.waiters.length === 0) {
        this.pending.delete(key);
        gone.push(key);
      }
    }
    this.replicas?.leave(gone);
    if (this.pending.size === 0 && this.cancelTimer !== undefined) {
      this.cancelTimer();
      this.cancelTimer = undefined;
    }
    if (this.pending.size === 0) this.planner?.stop();
    for (const flight of new Set(this.inFlight.values())) {
      if (!flight.waiters.delete(waiter)) continue;
      // Other replicas' requests wait for the keys it carries for them: it goes on for them.
      if (flight.theirs === 0 && [...flight.waiters.keys()].every((other) => other.settled)) {
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
