import type { FaultCase } from '../providers/kit.js';
import type { HttpFault } from './fault-queue.js';

/**
 * The faults every HTTP upstream can meet between itself and the subgraph, or from a broken API, and the
 * one answer to each (UPSTREAM_UNAVAILABLE): what an HTTP provider's conformance data lists besides its
 * own statuses. `fail` queues `count` of a fault at its emulator; `lookup` names its lookup request;
 * `maxBodyBytes` is the client's body cap (`maxBodyBytes` in its client.ts).
 */
export function httpFaultCases<Handle>(
  fail: (handle: Handle, count: number, fault: HttpFault) => void,
  lookup: string,
  maxBodyBytes: number,
  { attempts, timeoutMs }: { attempts: number; timeoutMs: number },
): FaultCase<Handle>[] {
  const overCap = maxBodyBytes + 1;
  const row = (name: string, fault: HttpFault, count: number, env?: Record<string, string>): FaultCase<Handle> => ({
    name,
    inject: (handle) => fail(handle, count, fault),
    ...(env === undefined ? {} : { env }),
    code: 'UPSTREAM_UNAVAILABLE',
    requests: Array.from({ length: count }, () => lookup),
  });
  return [
    row(`timeout (> ${timeoutMs} ms), every attempt`, { kind: 'slow', ms: 10_000 }, attempts, { UPSTREAM_TIMEOUT_MS: String(timeoutMs) }),
    row('connection reset mid-body, every attempt', { kind: 'reset' }, attempts),
    // A 200 whose body is not what the API sends: not retried (the upstream answered, and would again).
    row('malformed JSON (200, truncated body)', { kind: 'truncated-json' }, 1),
    row('HTML body with 200 (a proxy page)', { kind: 'html', status: 200 }, 1),
    row('HTML body with 502, every attempt', { kind: 'html', status: 502 }, attempts),
    // Was a bug for Bitrix24: every 503 read as its QUERY_LIMIT_EXCEEDED (RATE_LIMITED), though a proxy's
    // page says nothing of the kind: the upstream is down.
    row('HTML body with 503, every attempt', { kind: 'html', status: 503 }, attempts),
    // Refused unread (the connection is dropped), and not retried: the same request would get the same body.
    row(`oversize body (${overCap} bytes, content-length)`, { kind: 'oversize', bytes: overCap }, 1),
    row(`oversize body (${overCap} bytes, chunked)`, { kind: 'oversize', bytes: overCap, chunked: true }, 1),
  ];
}

/** What an HTML error page of a proxy, and a generic HTTP failure, say: none of it may reach a caller. */
export const HTTP_FAILURE_TEXT = ['<html', 'nginx', 'padding', 'Bad Gateway', 'Service Unavailable', 'Internal Server Error'];
