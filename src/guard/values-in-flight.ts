/**
 * The values being answered by all operations at once (MAX_RESULT_VALUES_IN_FLIGHT), as estimated before
 * each runs (`estimateValues`): a large operation that would pass it is turned away at once (503
 * OVERLOADED), so that however many arrive together, only a few are completed, held in memory and
 * serialized at a time (issue 20: 20 requests of 10,000 items each held 850 MiB and kept `/health` waiting
 * 4.2 s). Operations below `smallest` values — nearly all — are not counted: they are cheap, and cost no
 * bookkeeping.
 */
export class ValuesInFlight {
  private taken = 0;

  constructor(
    readonly max: number,
    readonly smallest: number,
  ) {}

  /** Takes `values` if they fit (or are too few to count); resolves what to give back, or undefined: refused. */
  take(values: number): number | undefined {
    if (values < this.smallest) return 0;
    // One operation alone always fits: the per-operation ceiling bounds it already.
    if (this.taken > 0 && this.taken + values > this.max) return undefined;
    this.taken += values;
    return values;
  }

  give(values: number): void {
    this.taken = Math.max(0, this.taken - values);
  }

  /** Values counted now. */
  get size(): number {
    return this.taken;
  }
}
