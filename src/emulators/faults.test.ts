import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultQueue, type HttpFault } from './fault-queue.js';
import { type LoopbackServer, startLoopbackServer } from './loopback-server.js';
import { faultReply, jsonReply, type Reply, ReplySender } from './reply.js';

/**
 * The shared fault kinds (`HttpFault`), written by `reply.ts` for every HTTP emulator: an emulator of
 * one endpoint here, whose own error body names its status and whose normal answer counts the
 * requests that reached it.
 */
const NORMAL_BODY = JSON.stringify({
  data: [
    { id: '1', name: 'Ada Lovelace' },
    { id: '2', name: 'Alan Turing' },
  ],
});

let server: LoopbackServer;
let sender: ReplySender;
const faults = new FaultQueue<HttpFault>();
const records: Array<{ status: number }> = [];
let normalAnswers = 0;
/** Called as each request arrives. */
let arrived: (() => void) | undefined;
const agent = new Agent({ keepAliveTimeout: 10 });

function own(status: number): Reply {
  return jsonReply(status, { own: status }, { 'x-own': 'yes' });
}
function normal(): Reply {
  normalAnswers++;
  return { status: 200, body: NORMAL_BODY, headers: { 'x-normal': 'yes' } };
}

beforeAll(async () => {
  sender = new ReplySender();
  server = await startLoopbackServer({
    name: 'fault test emulator',
    internalError: own(500),
    timers: sender.timers,
    handle(req, res) {
      req.resume();
      const record = { status: 0 };
      records.push(record);
      const fault = faults.next();
      arrived?.();
      sender.send(res, fault === undefined ? normal() : faultReply(fault, { own, normal }), record);
    },
  });
});
afterAll(async () => {
  await server.close();
  await agent.close();
});
afterEach(() => {
  faults.clear();
  records.length = 0;
  normalAnswers = 0;
});

const get = () => request(`${server.url}/`, { dispatcher: agent });

describe('FaultQueue', () => {
  it('hands out faults one per request, in the order queued, then nothing; clear() drops the rest', () => {
    const queue = new FaultQueue<string>();
    queue.add(2, 'a');
    queue.add(1, 'b');
    expect([queue.next(), queue.next(), queue.next(), queue.next()]).toEqual(['a', 'a', 'b', undefined]);
    queue.add(3, 'c');
    queue.clear();
    expect(queue.next()).toBeUndefined();
  });
});

describe('HttpFault kinds', () => {
  it("status: the emulator's own answer with that status, with the extra headers; then the normal answer", async () => {
    faults.add(1, { kind: 'status', status: 429, headers: { 'x-rate-limit-reset': '1700000000' } });
    const res = await get();
    expect(res.statusCode).toBe(429);
    expect(res.headers['x-own']).toBe('yes');
    expect(res.headers['x-rate-limit-reset']).toBe('1700000000');
    expect(await res.body.json()).toEqual({ own: 429 });
    expect(normalAnswers).toBe(0);

    const next = await get();
    expect([next.statusCode, await next.body.text()]).toEqual([200, NORMAL_BODY]);
  });

  it('reset: the normal status and headers with the whole content-length, half the body, then the socket is gone', async () => {
    faults.add(1, { kind: 'reset' });
    const res = await get();
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-normal']).toBe('yes');
    expect(res.headers['content-length']).toBe(String(Buffer.byteLength(NORMAL_BODY)));
    await expect(res.body.text()).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
    expect(normalAnswers).toBe(1); // the request went through every check first
    expect(records.map((r) => r.status)).toEqual([200]);
  });

  it('truncated-json: the normal answer with half its body and a content-length that matches, so it is whole HTTP but not JSON', async () => {
    faults.add(1, { kind: 'truncated-json' });
    const res = await get();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const text = await res.body.text();
    expect(text).toBe(NORMAL_BODY.slice(0, Math.floor(NORMAL_BODY.length / 2)));
    expect(res.headers['content-length']).toBe(String(Buffer.byteLength(text)));
    expect(() => JSON.parse(text)).toThrow(SyntaxError);
  });

  it.each([200, 502, 503])("html %i: a proxy's HTML page with that status, never the emulator's own body", async (status) => {
    faults.add(1, { kind: 'html', status });
    const res = await get();
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    const text = await res.body.text();
    expect(text).toMatch(/^<html>/);
    expect(text).toContain(`<title>${status} `);
    expect(normalAnswers).toBe(0);
  });

  it('oversize: exactly `bytes` of JSON with its content-length, streamed in chunks', async () => {
    const bytes = 300_000; // several 64 KiB chunks, through backpressure
    faults.add(1, { kind: 'oversize', bytes });
    const res = await get();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe(String(bytes));
    const text = await res.body.text();
    expect(Buffer.byteLength(text)).toBe(bytes);
    expect(JSON.parse(text)).toEqual({ padding: expect.any(String) });
  });

  it('oversize chunked: the same body without a content-length', async () => {
    faults.add(1, { kind: 'oversize', bytes: 200_000, chunked: true });
    const res = await get();
    expect(res.headers['content-length']).toBeUndefined();
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(Buffer.byteLength(await res.body.text())).toBe(200_000);
  });

  it('oversize: a client that hangs up after the headers stops the stream (the emulator never holds the body)', async () => {
    faults.add(1, { kind: 'oversize', bytes: 1024 * 1024 * 1024, chunked: true });
    const res = await get();
    expect(res.statusCode).toBe(200);
    res.body.destroy();
    // The next request is answered normally: nothing is stuck writing a gigabyte.
    const next = await get();
    expect([next.statusCode, await next.body.text()]).toEqual([200, NORMAL_BODY]);
  });

  it('slow: the normal answer, after the delay; pending (status 0) until then', async () => {
    faults.add(1, { kind: 'slow', ms: 30 });
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    const pending = get();
    await arrival;
    arrived = undefined;
    expect(records[0]!.status).toBe(0);
    expect(sender.timers.size).toBe(1);
    const res = await pending;
    expect([res.statusCode, await res.body.text()]).toEqual([200, NORMAL_BODY]);
    expect(records[0]!.status).toBe(200);
    expect(sender.timers.size).toBe(0);
  });

  it('slow: a client that gives up first gets nothing, and the late answer is dropped', async () => {
    faults.add(1, { kind: 'slow', ms: 200 });
    await expect(request(`${server.url}/`, { dispatcher: agent, signal: AbortSignal.timeout(20) })).rejects.toThrow();
    await expect.poll(() => sender.timers.size, { timeout: 2_000 }).toBe(0);
    expect(records.map((r) => r.status)).toEqual([0]);
  });
});
