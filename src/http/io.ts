import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The two things every endpoint of this server does with raw HTTP: read a request body no larger than a
 * limit, and answer JSON that no cache keeps.
 */

/**
 * The body as text, or `undefined` when it is larger than `limit` bytes: the rest is read and dropped
 * (the connection stays usable), never held in memory.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<string | undefined>;
export function readBody(
  req: IncomingMessage,
  limit: number,
  signals: readonly AbortSignal[],
): Promise<string | undefined | typeof TIMED_OUT>;
export function readBody(
  req: IncomingMessage,
  limit: number,
  signals: readonly AbortSignal[] = [],
): Promise<string | undefined | typeof TIMED_OUT> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLargeBody = false;
    // Any of `signals` cuts the body short (the operation's deadline, a drain): a body that trickles in is cut
    // at it (408). One listener on each, removed at the end, and not AbortSignal.any: a signal made by `any`
    // is held by a WeakRef from each source, which V8's scavenges treat as strong, so with one long-lived
    // source (the drain's) every request's signal, and all its listeners reach, was promoted to the old
    // generation (issue 22: the tail).
    const onAbort = () => {
      stopListening();
      resolve(TIMED_OUT);
    };
    const stopListening = () => {
      for (const signal of signals) signal.removeEventListener('abort', onAbort);
    };
    if (signals.some((signal) => signal.aborted)) return resolve(TIMED_OUT);
    for (const signal of signals) signal.addEventListener('abort', onAbort, { once: true });
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLargeBody = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      stopListening();
      resolve(tooLargeBody ? undefined : Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (error) => {
      stopListening();
      reject(error);
    });
  });
}

/** What `readBody` resolves when the operation's deadline passed before the whole body came. */
export const TIMED_OUT: unique symbol = Symbol('timed out');

/** Answers `value` as JSON, `no-store`: health, readiness, refusals and admin answers are all of the moment. */
export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
}
