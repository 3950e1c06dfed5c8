import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as it left the client: what an emulator's own log leaves out (headers, raw body). */
export interface Recorded {
  method: string;
  /** Path and query, exactly as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RecordingProxy {
  /** Where to point the client instead of `target`: same paths, on another loopback port. */
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

/** Headers that belong to one hop, not to the request: never forwarded. */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'content-length']);

/**
 * A loopback pass-through in front of an emulator that records every request exactly as the client
 * sent it, so a client test can assert its headers and body, then forwards it and relays the answer.
 */
export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const method = req.method ?? 'GET';
      const url = req.url ?? '/';
      requests.push({ method, url, headers: req.headers, body });
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined && !HOP.has(name)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
      }
      fetch(new URL(url, target), { method, headers, body: method === 'GET' || method === 'HEAD' ? undefined : body })
        .then(async (answer) => {
          const text = await answer.text();
          const out: Record<string, string> = {};
          answer.headers.forEach((value, name) => {
            if (!HOP.has(name) && name !== 'content-encoding') out[name] = value;
          });
          res.writeHead(answer.status, out);
          res.end(text);
        })
        .catch(() => {
          res.destroy();
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
