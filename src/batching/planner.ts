import type { Clock } from '../core/clock.js';
import { type CallBudget, NOTHING_TO_SEND, type Permit } from '../core/lookup.js';

/**
 * The upstream budget planner (docs/upstream-budget.md): when one queue of misses (a lookup's keys under
 * one credential scope and partition, `coalescer.ts`) sends its next call. Calls are what an upstream
 * counts (X: 300 per 15 minutes), so a call that carries few ids is spent only when the budget can afford
 * it; otherwise the keys wait for others to fill the call, never longer than UPSTREAM_MAX_HOLD_MS:
 *
 * 1. **full**: the queue holds a whole call's worth: it goes while the window has calls left;
 * 2. **coalescing**: keys first wait the coalescing window (COALESCE_WINDOW_MS) for others, as always;
 * 3. **due**: the oldest key has waited UPSTREAM_MAX_HOLD_MS: the oldest call's worth goes while the
 *    window has calls left; when it has none, the due keys answer RATE_LIMITED with `retryAfter` (and a
 *    stale record where the cache has one) without a call;
 * 4. **paced**: otherwise the keys go at once when the budget's pace allows it (an ample budget always
 *    does: nothing is held), and wait to fill when it does not.
 *
 * Decisions are taken one at a time (a budget in Redis answers asynchronously); anything that changes the
 * queue pokes the planner again.
 */
export type SendReason = 'full' | 'due' | 'paced';

export interface PlannerQueue {
  /** Keys waiting for a call. */
  readonly size: number;
  /** When the oldest waiting key was asked for (on the planner's clock); undefined when none waits. */
  oldestSince(): number | undefined;
  /** Sends one call for up to a whole call's worth of the oldest keys. */
  send(reason: SendReason): void;
  /** Whether the call `send` would make now carries any key (asked once a permit is granted: keys leave while it is asked for). */
  sendable(): boolean;
  /** Answers every key asked for at or before `since` RATE_LIMITED without a call: the window has none left for `retryInMs`. */
  refuse(since: number, retryInMs: number): void;
  /** The keys waiting now wait past their coalescing window, for the budget or to fill (with Redis: parked for other replicas' calls). */
  holding?(): void;
}

export interface PlannerOptions {
  /** Keys one call carries at most. */
  maxBatchSize: number;
  /** How long keys first wait for others (ms); 0: those asked in the same turn of the event loop. */
  windowMs: number;
  /** How long a key waits at most for its call to fill (UPSTREAM_MAX_HOLD_MS). */
  maxHoldMs: number;
  clock: Clock;
}

export class Planner {
  private deciding = false;
  private again = false;
  private cancelTimer: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly queue: PlannerQueue,
    private readonly budget: CallBudget,
    private readonly options: PlannerOptions,
  ) {}

  /**
   * Something changed (keys came, a call answered, time passed): decide, as often as it takes.
   * `budgetChanged`: an answer may have told the budget more (X's window read from its headers), so a
   * wait the budget asked for is asked again rather than sat out.
   */
  poke(budgetChanged = false): void {
    if (this.closed) return;
    if (budgetChanged) this.heldUntil = undefined;
    if (this.deciding) {
      this.again = true;
      return;
    }
    this.deciding = true;
    void this.decideWhileChanged().finally(() => {
      this.deciding = false;
    });
  }

  /** Whether a decision or a timer is pending: the queue is not idle yet. */
  get busy(): boolean {
    return this.deciding || this.cancelTimer !== undefined;
  }

  /** How long until the window resets, when the budget last said it is spent; undefined when not known to be. */
  exhaustedForMs(): number | undefined {
    const now = this.options.clock.now();
    return this.exhaustedUntil !== undefined && now < this.exhaustedUntil ? this.exhaustedUntil - now : undefined;
  }

  /** Stops the timer (the queue is empty and idle). */
  stop(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private async decideWhileChanged(): Promise<void> {
    do {
      this.again = false;
      await this.decide();
    } while (this.again && !this.closed);
  }

  /** Sends what may go now; then waits for the next moment something could. */
  private async decide(): Promise<void> {
    const { maxBatchSize, maxHoldMs, clock } = this.options;
    for (;;) {
      const oldest = this.queue.oldestSince();
      if (oldest === undefined) {
        // Empty: the next key opens a new coalescing window.
        this.windowClosed = false;
        this.heldUntil = undefined;
        this.stop();
        return;
      }
      const now = clock.now();
      const age = now - oldest;
      if (this.queue.size >= maxBatchSize) {
        // The window is spent until its reset: asking again before then would only cost a round trip.
        if (this.exhaustedUntil !== undefined && now < this.exhaustedUntil && age < maxHoldMs) return this.hold(maxHoldMs - age);
        const permit = await this.take('window');
        if (permit === NOTHING_TO_SEND) continue;
        if (permit.granted) {
          this.sendGranted('full');
          continue;
        }
        // No call left in the window: the keys wait for their deadline, then answer RATE_LIMITED.
        if (age < maxHoldMs) return this.hold(maxHoldMs - age);
        this.queue.refuse(now - maxHoldMs, permit.retryInMs);
        continue;
      }
      if (!this.windowClosed) return this.openWindow();
      // Waiting already, and nothing is due before the wait ends: a new key alone changes nothing.
      if (this.heldUntil !== undefined && now < this.heldUntil && this.cancelTimer !== undefined) return this.queue.holding?.();
      if (age >= maxHoldMs) {
        const permit = await this.take('window');
        if (permit === NOTHING_TO_SEND) continue;
        if (permit.granted) this.sendGranted('due');
        else this.queue.refuse(clock.now() - maxHoldMs, permit.retryInMs);
        continue;
      }
      const permit = await this.take('paced');
      if (permit === NOTHING_TO_SEND) continue;
      if (permit.granted) {
        this.sendGranted('paced');
        continue;
      }
      return this.hold(Math.min(permit.retryInMs, maxHoldMs - age));
    }
  }

  /**
   * Sends the call a permit was granted for, unless every key it would carry left while the permit was
   * asked for (their requests went away, another replica took them): no call goes then. The permit stays
   * spent, one call of the window unused until its reset (X's count, read from later answers, only ever
   * lowers ours within a window). It is not given back: the budgets (`call-budget.ts`) have no way to, and
   * one would be safe only if no reset and no answer replacing the count came in between, or the window
   * would count a call the upstream never allowed.
   */
  private sendGranted(reason: SendReason): void {
    if (this.queue.sendable()) this.queue.send(reason);
  }

  /** The keys wait `ms` for the budget or to fill: said to the queue, then a wake-up set. */
  private hold(ms: number): void {
    this.queue.holding?.();
    this.wake(ms);
  }

  /** Until when the window is known to be spent, as the budget's last answer said (no full batch is asked for before then). */
  private exhaustedUntil: number | undefined;
  /** Whether the keys waiting have had their coalescing window. */
  private windowClosed = false;
  /** Until when the planner waits for the budget or a deadline (a new key alone does not end the wait). */
  private heldUntil: number | undefined;

  /** The coalescing window of the keys now waiting: COALESCE_WINDOW_MS, or the next turn of the event loop. */
  private openWindow(): void {
    if (this.cancelTimer !== undefined) return;
    const close = () => {
      this.cancelTimer = undefined;
      this.windowClosed = true;
      this.poke();
    };
    if (this.options.windowMs > 0) {
      this.cancelTimer = this.options.clock.setTimer(close, this.options.windowMs);
    } else {
      const immediate = setImmediate(close);
      this.cancelTimer = () => clearImmediate(immediate);
    }
  }

  private wake(ms: number): void {
    this.stop();
    this.heldUntil = this.options.clock.now() + Math.max(0, ms);
    this.cancelTimer = this.options.clock.setTimer(
      () => {
        this.cancelTimer = undefined;
        this.heldUntil = undefined;
        this.poke();
      },
      Math.max(0, ms),
    );
  }

  private async take(kind: 'window' | 'paced'): Promise<Permit> {
    try {
      const permit = await this.budget.take(kind);
      if (permit.granted) this.exhaustedUntil = undefined;
      else if (permit.exhausted) this.exhaustedUntil = this.options.clock.now() + permit.retryInMs;
      return permit;
    } catch {
      // A budget that cannot be read does not stop calls: the upstream's own answer decides, as without a planner.
      return { granted: true };
    }
  }
}
