/**
 * How late this process's event loop runs now: a timer every `intervalMs` notes by how much it fired
 * after it was due. Timers run before the loop reads sockets, so a request is judged by the lag of the
 * turn that reads it.
 *
 * Used to turn GraphQL requests away while the loop is behind (MAX_EVENT_LOOP_DELAY_MS): when the work
 * already taken keeps the loop busy — many large operations at once — a new one would only wait behind
 * it, and so would `/health` (issue 20: 20 such requests kept it waiting 4.2 s). Answered 503 OVERLOADED
 * at once, it costs a fraction of a millisecond, and the work in progress drains.
 */
export class EventLoopLag {
  private lagMs = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly intervalMs = 10,
    now: () => number = () => performance.now(),
  ) {
    let due = now() + intervalMs;
    this.timer = setInterval(() => {
      const at = now();
      this.lagMs = Math.max(0, at - due);
      due = at + intervalMs;
    }, intervalMs);
    this.timer.unref();
  }

  /** Milliseconds the last tick came late. */
  get ms(): number {
    return this.lagMs;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
