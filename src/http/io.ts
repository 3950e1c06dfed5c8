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
export function readBody(req: IncomingMessage, limit: number, signal: AbortSignal): Promise<string | undefined | typeof TIMED_OUT>;
export function readBody(req: IncomingMessage, limit: number, signal?: AbortSignal): Promise<string | undefined | typeof TIMED_OUT> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLargeBody = false;
    // The operation's deadline covers reading its body: a body that trickles in is cut at it (408).
    const onAbort = () => resolve(TIMED_OUT);
    if (signal?.aborted) return resolve(TIMED_OUT);
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLargeBody = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      signal?.removeEventListener('abort', onAbort);
      resolve(tooLargeBody ? undefined : Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (error) => {
      signal?.removeEventListener('abort', onAbort);
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
