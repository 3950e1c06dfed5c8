import { type OutgoingHttpHeaders, type ServerResponse, STATUS_CODES } from 'node:http';
import type { HttpFault } from './fault-queue.js';
import { afterLatency } from './latency.js';

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** One HTTP answer of an emulator. */
export interface Reply {
  status: number;
  /** As sent; '' for an empty body, which goes without a content-type. */
  body: string;
  /** Default JSON_CONTENT_TYPE. */
  contentType?: string;
  headers?: Readonly<Record<string, string>>;
  /** How it goes out when an injected fault breaks it; whole by default. */
  delivery?: Delivery;
  /** Extra delay before it goes out, on top of the emulator's latency (a `slow` fault). */
  delayMs?: number;
}

/**
 * A broken way of sending a reply: `reset` sends the status line, the headers (with the whole body's
 * content-length) and the first half of the body, then destroys the socket; `filler` sends `bytes` of
 * generated JSON-typed body instead of `body`, with its content-length or chunked without one.
 */
export type Delivery = { kind: 'reset' } | { kind: 'filler'; bytes: number; chunked: boolean };

/** `value` as a JSON answer. */
export function jsonReply(status: number, value: unknown, headers?: Readonly<Record<string, string>>): Reply {
  return { status, body: JSON.stringify(value), headers };
}

/** An HTML page as nginx (a proxy or load balancer in front of an API) sends for `status`. */
export function htmlReply(status: number): Reply {
  const title = `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
  const body =
    `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n` +
    '<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';
  return { status, body, contentType: 'text/html; charset=utf-8', headers: { server: 'nginx' } };
}

/** What an emulator answers for each kind of `HttpFault`: its own reply with a status, and its normal reply. */
export interface FaultAnswers {
  /** The emulator's own answer with `status` (its error body and headers). */
  own(status: number): Reply;
  /** The answer the request would have had without the fault (it runs every check, spends budgets). */
  normal(): Reply;
}

/** The reply an injected `HttpFault` gives instead of the normal one (README of the kinds: `HttpFault`). */
export function faultReply(fault: HttpFault, answers: FaultAnswers): Reply {
  switch (fault.kind) {
    case 'status': {
      const own = answers.own(fault.status);
      return fault.headers === undefined ? own : { ...own, headers: { ...own.headers, ...fault.headers } };
    }
    case 'html':
      return htmlReply(fault.status);
    case 'oversize':
      return { status: 200, body: '', delivery: { kind: 'filler', bytes: fault.bytes, chunked: fault.chunked ?? false } };
    case 'slow':
      return { ...answers.normal(), delayMs: fault.ms };
    case 'reset':
      return { ...answers.normal(), delivery: { kind: 'reset' } };
    case 'rewrite': {
      const normal = answers.normal();
      return { ...normal, body: fault.rewrite(normal.body) };
    }
    case 'truncated-json': {
      const normal = answers.normal();
      return { ...normal, body: normal.body.slice(0, Math.floor(normal.body.length / 2)) };
    }
  }
}

/** Writes `reply` at once, with its content-length (as its delivery says, when a fault breaks it). */
export function writeReply(res: ServerResponse, reply: Reply): void {
  const { delivery } = reply;
  if (delivery?.kind === 'filler') {
    writeFiller(res, reply.status, reply.headers, delivery);
    return;
  }
  const body = Buffer.from(reply.body);
  const headers: OutgoingHttpHeaders = { ...reply.headers, 'content-length': body.length };
  if (reply.body !== '') headers['content-type'] = reply.contentType ?? JSON_CONTENT_TYPE;
  if (delivery?.kind === 'reset') {
    // The whole body is promised; half of it goes out, then the connection is gone.
    headers['content-length'] = Math.max(body.length, 1);
    res.writeHead(reply.status, headers);
    res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy());
    return;
  }
  res.writeHead(reply.status, headers);
  res.end(body);
}

const FILLER_CHUNK = Buffer.alloc(64 * 1024, ' ');
const FILLER_HEAD = Buffer.from('{"padding":"');
const FILLER_TAIL = Buffer.from('"}');

/**
 * `bytes` of a JSON object (`{"padding":"    …"}`), streamed in 64 KiB chunks as the client reads them,
 * and dropped as soon as the client hangs up: the emulator never holds the whole body.
 */
function writeFiller(
  res: ServerResponse,
  status: number,
  extra: Readonly<Record<string, string>> | undefined,
  filler: { bytes: number; chunked: boolean },
): void {
  const headers: OutgoingHttpHeaders = { ...extra, 'content-type': JSON_CONTENT_TYPE };
  if (!filler.chunked) headers['content-length'] = filler.bytes;
  res.writeHead(status, headers);
  const total = Math.max(filler.bytes, FILLER_HEAD.length + FILLER_TAIL.length);
  let left = total - FILLER_HEAD.length - FILLER_TAIL.length;
  res.write(FILLER_HEAD);
  const pump = (): void => {
    while (left > 0) {
      if (res.destroyed) return;
      const size = Math.min(left, FILLER_CHUNK.length);
      left -= size;
      if (!res.write(size === FILLER_CHUNK.length ? FILLER_CHUNK : FILLER_CHUNK.subarray(0, size))) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) res.end(FILLER_TAIL);
  };
  pump();
}

/** Sends an emulator's answers: after its latency, and only to a client still there. */
export class ReplySender {
  /** Answers still waiting out the latency; the loopback server drops them at close. */
  readonly timers = new Set<NodeJS.Timeout>();

  /** Answers held back by `hold()`, sent when it is released. */
  private held: Array<() => void> | undefined;

  constructor(private readonly latencyMs = 0) {}

  /**
   * Holds every answer back until the returned function is called: a test then knows that requests
   * sent meanwhile are all in flight at once, without racing a latency on real time.
   */
  hold(): () => void {
    const held: Array<() => void> = [];
    this.held = held;
    return () => {
      if (this.held === held) this.held = undefined;
      for (const send of held.splice(0)) send();
    };
  }

  /**
   * Sends `reply` once the latency (and its own `delayMs`) has passed, then sets `record.status` (a
   * request-log entry, which so reads 0 while the answer is pending, and stays 0 when the client hung
   * up first).
   */
  send(res: ServerResponse, reply: Reply, record?: { status: number }): void {
    if (this.held !== undefined) {
      this.held.push(() => this.send(res, reply, record));
      return;
    }
    afterLatency(this.latencyMs + (reply.delayMs ?? 0), this.timers, () => {
      if (res.destroyed) return;
      if (record !== undefined) record.status = reply.status;
      writeReply(res, reply);
    });
  }
}
