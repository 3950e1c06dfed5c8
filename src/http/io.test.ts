import { getEventListeners } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readBody, TIMED_OUT } from './io.js';

/** A request body arriving in `chunks`, then ended (or left open when `end` is false). */
function body(chunks: string[], end = true): IncomingMessage {
  const stream = new PassThrough();
  queueMicrotask(() => {
    for (const chunk of chunks) stream.write(chunk);
    if (end) stream.end();
  });
  return stream as unknown as IncomingMessage;
}

describe('readBody', () => {
  it('reads the whole body, and nothing beyond the limit', async () => {
    expect(await readBody(body(['{"query":', '"{ a }"}']), 100)).toBe('{"query":"{ a }"}');
    expect(await readBody(body(['x'.repeat(60), 'y'.repeat(60)]), 100)).toBeUndefined();
  });

  it('is cut by whichever of its signals aborts first', async () => {
    const deadline = new AbortController();
    const drain = new AbortController();
    const reading = readBody(body(['{"query":'], false), 100, [deadline.signal, drain.signal]);
    drain.abort();
    expect(await reading).toBe(TIMED_OUT);
    // Cut by one, it no longer listens to the other (the deadline's signal lives on with its request).
    expect(getEventListeners(deadline.signal, 'abort')).toHaveLength(0);
  });

  it('answers TIMED_OUT at once when a signal has already aborted', async () => {
    const drain = new AbortController();
    drain.abort();
    expect(await readBody(body(['{}']), 100, [new AbortController().signal, drain.signal])).toBe(TIMED_OUT);
  });

  it('leaves no listener on a long-lived signal once the body is read', async () => {
    // The drain's signal lives as long as the server: a listener left on it per request would hold every
    // request's body reader for the life of the process.
    const drain = new AbortController();
    for (let i = 0; i < 3; i++) {
      const deadline = new AbortController();
      expect(await readBody(body(['{}']), 100, [deadline.signal, drain.signal])).toBe('{}');
      expect(getEventListeners(deadline.signal, 'abort')).toHaveLength(0);
    }
    expect(getEventListeners(drain.signal, 'abort')).toHaveLength(0);
  });
});
