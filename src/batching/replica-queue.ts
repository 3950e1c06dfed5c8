import type { Clock } from '../core/clock.js';
import { ProviderError } from '../core/errors.js';
import type { Lookup, Permit, SharedQueue } from '../core/lookup.js';
import type { FieldSet, ProviderId } from '../core/types.js';

/**
 * One coalescing group's side of the queue the replicas share (`SharedQueue`, with Redis;
 * docs/upstream-budget.md, "Across replicas"):
 *
 * - while the planner holds the group's keys, they are **parked** for other replicas' calls to take, and
 *   every TAKEN_POLL_MS the group asks whether one did: a key taken is handed over (`HandedOver`), and
 *   its requests wait for the answer in the shared cache;
 * - each permit the group takes comes with the keys its call carries: its own, but those another replica
 *   took meanwhile, and the other replicas' oldest parked keys that this lookup could ask for.
 */
export class ReplicaQueue {
  private readonly parked = new Set<string>();
  private cancelPoll: (() => void) | undefined;
  private knownFields: ReadonlySet<string> | undefined;

  constructor(
    private readonly shared: SharedQueue,
    private readonly lookup: Lookup<unknown>,
    private readonly clock: Clock,
    private readonly group: {
      /** The group's waiting keys, oldest first, with the fields their requests need (sorted). */
      waiting(): Iterable<[string, { fields: FieldSet }]>;
      /** Keys another replica's call took: their requests answer `HandedOver`. */
      handOver(keys: readonly string[]): void;
    },
  ) {}

  /** The planner holds the group's keys: those not parked yet are parked, and the poll starts. */
  hold(): void {
    const unparked: Array<{ key: string; fields: FieldSet }> = [];
    for (const [key, { fields }] of this.group.waiting()) {
      if (this.parked.has(key)) continue;
      this.parked.add(key);
      unparked.push({ key, fields });
    }
    if (unparked.length > 0) void this.shared.park(unparked);
    this.poll();
  }

  /**
   * A permit of `kind` for the group's next call, whose keys would be `mine`: resolves the permit, and with
   * it the keys the call carries (its own not taken by another replica, and the others' it takes along).
   */
  async take(
    kind: 'window' | 'paced',
    mine: readonly string[],
    room: number,
  ): Promise<{ permit: Permit; mine: string[]; theirs: Array<{ key: string; fields: FieldSet }> }> {
    const { permit, takenFromMe, theirs } = await this.shared.take(kind, mine, room);
    this.handOver(takenFromMe);
    const gone = new Set(takenFromMe);
    const sent = mine.filter((key) => !gone.has(key));
    // Refused, or NOTHING_TO_SEND: another replica's call took every key of this one (its requests now wait for
    // that answer), the script took no permit, and the planner decides afresh on the keys still waiting.
    if (!permit.granted) return { permit, mine: [], theirs: [] };
    for (const key of sent) this.parked.delete(key);
    return { permit, mine: sent, theirs: theirs.filter((entry) => this.plausible(entry)) };
  }

  /** Keys that left the group without a call of its own (their requests went away, or were refused): unparked. */
  leave(keys: readonly string[]): void {
    const parked = keys.filter((key) => this.parked.delete(key));
    if (parked.length > 0) void this.shared.unpark(parked);
  }

  /** The group is empty: no more polling. */
  stop(): void {
    this.cancelPoll?.();
    this.cancelPoll = undefined;
    this.parked.clear();
  }

  /** Whether a poll is pending (the group is not idle). */
  get busy(): boolean {
    return this.cancelPoll !== undefined;
  }

  private handOver(keys: readonly string[]): void {
    for (const key of keys) this.parked.delete(key);
    if (keys.length > 0) this.group.handOver(keys);
  }

  /** While keys are parked, asks every TAKEN_POLL_MS whether another replica took them. */
  private poll(): void {
    if (this.cancelPoll !== undefined || this.parked.size === 0) return;
    this.cancelPoll = this.clock.setTimer(() => {
      this.cancelPoll = undefined;
      if (this.parked.size === 0) return;
      void this.shared.taken([...this.parked]).then((taken) => {
        this.handOver(taken);
        this.poll();
      });
    }, TAKEN_POLL_MS);
  }

  /**
   * Whether another replica's key, as Redis gave it, is one this lookup could ask for: a valid key and fields
   * it knows. Anything else (a Redis written by someone else, another version) is left out, so that it cannot
   * make the upstream refuse this replica's call; its owner, never answered, asks for it itself.
   */
  private plausible(entry: { key: string; fields: FieldSet }): boolean {
    this.knownFields ??= new Set(this.lookup.fields(undefined));
    const known = this.knownFields;
    return this.lookup.key.isValid(entry.key) && entry.fields.every((field) => known.has(field));
  }
}

/** How often a replica holding parked keys asks whether another replica took them (ms). */
const TAKEN_POLL_MS = 20;

/**
 * The answer for a key another replica's call took from the shared queue: that replica fetches it, and
 * the caller waits for its answer in the shared cache. Never an answer to a request: should one ever
 * leak, it reads as what it is, an upstream this replica did not reach.
 */
export class HandedOver extends ProviderError {
  constructor(provider: ProviderId, id: string) {
    super({ code: 'UPSTREAM_UNAVAILABLE', provider, id });
  }
}
