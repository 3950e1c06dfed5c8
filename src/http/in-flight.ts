import { setMaxListeners } from 'node:events';
import type { ServerResponse } from 'node:http';
import { WorkAbandoned } from '../core/errors.js';
import { operationsInFlight } from '../telemetry/metrics.js';

/**
 * The GraphQL requests in progress, each under an abort signal: its deadline (OPERATION_TIMEOUT_MS), its
 * client going away, or a shutdown that ran out of time ends the upstream work still queued or in flight
 * for it, so abandoned work does not run on at the upstream's expense. And the drain: no new request once
 * it starts, the rest given a grace period, then cancelled.
 */
/** How long, once a drain starts, a body on its way may take to finish arriving (ms): a normal one takes less than one. */
const BODY_GRACE_MS = 100;

export class InFlight {
  private readonly controllers = new Set<AbortController>();
  private open = true;
  /** Resolves the drain's wait once the last request finished. */
  private drainedOne: (() => void) | undefined;
  /** Aborted BODY_GRACE_MS into a drain: a body still arriving then is not waited for. */
  private readonly bodies = new AbortController();

  constructor(
    /** OPERATION_TIMEOUT_MS. */
    private readonly timeoutMs: number,
  ) {}

  /** Requests in progress now. */
  get size(): number {
    return this.controllers.size;
  }

  /**
   * Aborted shortly after a drain starts (BODY_GRACE_MS): a request whose body is still arriving then is
   * answered 503 SHUTTING_DOWN at once, instead of holding the shutdown until its own deadline (issue 20:
   * a body that stopped after `{"query":` held every SIGTERM for SHUTDOWN_GRACE_MS, then exit 1).
   */
  get bodiesCut(): AbortSignal {
    return this.bodies.signal;
  }

  /** Whether new requests are taken (false once draining). */
  get accepting(): boolean {
    return this.open;
  }

  /** Runs one request's `work` under its signal, answered on `res`, and counts it until it finishes. */
  async run(res: ServerResponse, work: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const controller = new AbortController();
    // Every upstream call the request has in flight listens to its signal: more than Node's warning threshold of 10.
    setMaxListeners(1_000, controller.signal);
    this.controllers.add(controller);
    operationsInFlight.inc();
    const deadline = setTimeout(
      () =>
        controller.abort(
          new WorkAbandoned(
            'DEADLINE_EXCEEDED',
            `no answer within the operation's deadline of ${this.timeoutMs} ms (OPERATION_TIMEOUT_MS)`,
          ),
        ),
      this.timeoutMs,
    );
    const clientGone = () => {
      if (!res.writableFinished) controller.abort(new WorkAbandoned('UPSTREAM_UNAVAILABLE', 'the client went away'));
    };
    res.once('close', clientGone);
    try {
      await work(controller.signal);
    } finally {
      clearTimeout(deadline);
      res.off('close', clientGone);
      this.controllers.delete(controller);
      operationsInFlight.dec();
      if (this.controllers.size === 0) this.drainedOne?.();
    }
  }

  /**
   * Stops taking requests and waits up to `graceMs` for those in flight; then cancels what is left (its
   * upstream work stops, and its clients get what was answered so far) and waits a second more for it.
   * Resolves whether every request finished by itself.
   */
  async drain(graceMs: number): Promise<{ drained: boolean }> {
    this.open = false;
    setTimeout(() => this.bodies.abort(), Math.min(BODY_GRACE_MS, graceMs)).unref();
    const finished = new Promise<void>((resolve) => {
      this.drainedOne = resolve;
      if (this.controllers.size === 0) resolve();
    });
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), graceMs);
    });
    const drained = (await Promise.race([finished, graceOver])) !== 'late';
    clearTimeout(timer);
    if (!drained) {
      for (const controller of this.controllers)
        controller.abort(new WorkAbandoned('UPSTREAM_UNAVAILABLE', 'the subgraph is shutting down'));
      await Promise.race([finished, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    }
    return { drained };
  }
}
