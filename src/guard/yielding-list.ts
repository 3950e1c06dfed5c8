/**
 * Long lists answered in slices, each in its own turn of the event loop, so that completing one request's
 * answer never holds the loop for long (issue 20: 20 requests of 10,000 items each kept `/health` waiting
 * 4.2 s).
 *
 * graphql-js and graphql-jit complete a list's items synchronously once the list is there: 10,000 users of
 * 15 fields are ~160,000 values completed in one go, and a request's root fields (20 lists of 500, say)
 * all arrive in one turn when one coalesced upstream call answers them. So each request has one
 * `TurnSlicer`: at most `SLICE` of its items are answered as they are in a turn; the others become one
 * promise each, settled `SLICE` at a time in later turns (`setImmediate`, each scheduled by the one before),
 * so that I/O — a health check, other requests — runs between slices. An item that is an error rejects,
 * which both executors answer as that item's error at its own index (`src/execution/list-items.ts` holds
 * graphql-jit to that).
 *
 * A request whose lists hold at most `SLICE` items in a turn (nearly every one) gets them untouched: no
 * promise, and one `setImmediate` that finds nothing to do.
 */
export const SLICE = 256;

interface Pending {
  item: unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class TurnSlicer {
  /** Items this request may still answer as they are in the current turn. */
  private left = SLICE;
  private readonly queue: Pending[] = [];
  /** Whether the next turn's callback is scheduled (it starts a new turn's allowance and settles a slice). */
  private scheduled = false;

  /** `items`, those beyond this turn's allowance as promises settled in later turns. */
  slice(items: readonly unknown[]): unknown[] {
    this.schedule();
    if (this.queue.length === 0 && items.length <= this.left) {
      this.left -= items.length;
      return items as unknown[];
    }
    const now = this.queue.length === 0 ? this.left : 0;
    this.left -= now;
    const answered: unknown[] = items.slice(0, now);
    for (let i = now; i < items.length; i++) {
      const item = items[i];
      // An item may be a promise (a lookup's) that rejects before its slice's turn: it is adopted then, and
      // until then marked handled here, or Node would end the process on an unhandled rejection.
      if (isPromiseLike(item)) item.then(undefined, () => {});
      answered.push(new Promise((resolve, reject) => this.queue.push({ item, resolve, reject })));
    }
    return answered;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.nextTurn());
  }

  private nextTurn(): void {
    this.scheduled = false;
    this.left = SLICE;
    if (this.queue.length === 0) return;
    const slice = this.queue.splice(0, SLICE);
    this.left = 0;
    for (const { item, resolve, reject } of slice) {
      if (item instanceof Error) reject(item);
      else resolve(item);
    }
    this.schedule();
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
