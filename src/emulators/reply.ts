import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
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
}

/** `value` as a JSON answer. */
export function jsonReply(status: number, value: unknown, headers?: Readonly<Record<string, string>>): Reply {
  return { status, body: JSON.stringify(value), headers };
}

/** Writes `reply` at once, with its content-length. */
export function writeReply(res: ServerResponse, reply: Reply): void {
  const headers: OutgoingHttpHeaders = { ...reply.headers, 'content-length': Buffer.byteLength(reply.body) };
  if (reply.body !== '') headers['content-type'] = reply.contentType ?? JSON_CONTENT_TYPE;
  res.writeHead(reply.status, headers);
  res.end(reply.body);
}

/** Sends an emulator's answers: after its latency, and only to a client still there. */
export class ReplySender {
  /** Answers still waiting out the latency; the loopback server drops them at close. */
  readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly latencyMs = 0) {}

  /**
   * Sends `reply` once the latency has passed, then sets `record.status` (a request-log entry, which
   * so reads 0 while the answer is pending, and stays 0 when the client hung up first).
   */
  send(res: ServerResponse, reply: Reply, record?: { status: number }): void {
    afterLatency(this.latencyMs, this.timers, () => {
      if (res.destroyed) return;
      if (record !== undefined) record.status = reply.status;
      writeReply(res, reply);
    });
  }
}
