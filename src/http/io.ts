import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The two things every endpoint of this server does with raw HTTP: read a request body no larger than a
 * limit, and answer JSON that no cache keeps.
 */

/**
 * The body as text, or `undefined` when it is larger than `limit` bytes: the rest is read and dropped
 * (the connection stays usable), never held in memory.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLargeBody = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLargeBody = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLargeBody ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

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
