/**
 * Injected failures (`failNext`): the next requests an emulator checks take one each, in the order
 * they were queued, instead of their normal answer. What a fault is (a status, an RPC error) is the
 * emulator's own.
 */
export class FaultQueue<Fault> {
  private readonly pending: Fault[] = [];

  /** The next `count` requests get `fault`, after those queued before. */
  add(count: number, fault: Fault): void {
    for (let i = 0; i < count; i++) this.pending.push(fault);
  }

  /** The fault of the request at hand, used up; undefined when none is queued. */
  next(): Fault | undefined {
    return this.pending.shift();
  }

  clear(): void {
    this.pending.length = 0;
  }
}
