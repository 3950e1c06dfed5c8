/**
 * Injected failures: the next requests an emulator checks take one each, in the order they were
 * queued (`add`), instead of their normal answer; or every request takes the same one for as long as
 * it stands (`always`: an upstream that is down, throttled or hanging for a while). Either may name a
 * route (the emulator's own names: X's paths, Nexudus's `list` and `single`, Bitrix24's REST method,
 * Telegram's RPC method): then only requests to that route take it. What a fault is (a status, an RPC
 * error) is the emulator's own; `HttpFault` is what every HTTP emulator can inject besides.
 */
export class FaultQueue<Fault> {
  private readonly pending: Array<{ fault: Fault; route: string | undefined }> = [];
  private readonly standing = new Map<string | undefined, Fault>();

  /** The next `count` requests (to `route`, when given) get `fault`, after those queued before. */
  add(count: number, fault: Fault, route?: string): void {
    for (let i = 0; i < count; i++) this.pending.push({ fault, route });
  }

  /**
   * Every request (to `route`, when given) gets `fault` once the queued ones are used up, until `clear`
   * or `always(undefined, route)`. A route's own standing fault comes before one for every route.
   */
  always(fault: Fault | undefined, route?: string): void {
    if (fault === undefined) this.standing.delete(route);
    else this.standing.set(route, fault);
  }

  /** The fault of the request at hand (to `route`), a queued one used up; undefined when none applies. */
  next(route?: string): Fault | undefined {
    const index = this.pending.findIndex((queued) => queued.route === undefined || queued.route === route);
    if (index >= 0) return this.pending.splice(index, 1)[0]!.fault;
    return (route === undefined ? undefined : this.standing.get(route)) ?? this.standing.get(undefined);
  }

  clear(): void {
    this.pending.length = 0;
    this.standing.clear();
  }
}

/** The normal answer, `ms` late (on real timers, added to the emulator's latency): a client's deadline passes first. */
export interface SlowFault {
  kind: 'slow';
  ms: number;
}

/**
 * The faults every HTTP emulator injects the same way (`failNext(count, fault)`; `reply.ts` writes
 * them), besides its own statuses. They are what a client meets between itself and the API, or from
 * a broken API:
 *
 * - `status`: the emulator's own answer with that status (its error body and headers, e.g. X's 429
 *   problem, Bitrix24's `NO_AUTH_FOUND` 401), plus `headers`.
 * - `reset`: the normal answer's status line and headers (its full content-length) and part of its
 *   body, then the socket is destroyed: a connection lost mid-body.
 * - `truncated-json`: the normal answer with its body cut in half (a consistent content-length), so
 *   it is not JSON: what an upstream that crashed mid-write or a broken cache sends.
 * - `html`: an HTML error page with `status` (200 too), `text/html`, as a proxy or load balancer in
 *   front of the API sends.
 * - `oversize`: a JSON-typed body of `bytes` bytes, with its content-length, or `chunked` without one
 *   (so a client learns the size only by reading).
 * - `slow`: the normal answer, `ms` late.
 */
export type HttpFault =
  | { kind: 'status'; status: number; headers?: Readonly<Record<string, string>> }
  | { kind: 'reset' }
  | { kind: 'truncated-json' }
  | { kind: 'html'; status: number }
  | { kind: 'oversize'; bytes: number; chunked?: boolean }
  /** The normal answer, its body rewritten (an upstream that answers records of ids nobody asked). */
  | { kind: 'rewrite'; rewrite(body: string): string }
  | SlowFault;
