import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Reply, writeReply } from './reply.js';

export interface LoopbackServerOptions {
  /** Names the emulator in the console line of a handler bug. */
  name: string;
  port?: number;
  /** Default 127.0.0.1: emulators never listen beyond this machine. */
  host?: string;
  handle(req: IncomingMessage, res: ServerResponse): void | Promise<void>;
  /** The answer to a request whose handler threw: the upstream's own 500, so a bug shows as a failure, not a hang. */
  internalError: Reply;
  /** Delayed answers (latency emulation) still pending at close are dropped. */
  timers?: Set<NodeJS.Timeout>;
}

export interface LoopbackServer {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  /** Idempotent (a test may stop an upstream to emulate an outage, then clean up as usual); closes keep-alive sockets too. */
  close(): Promise<void>;
}

/** The HTTP server every emulator runs on: loopback, an ephemeral port, and a clean close. */
export async function startLoopbackServer(options: LoopbackServerOptions): Promise<LoopbackServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    const fail = (error: unknown) => {
      if (!res.headersSent) writeReply(res, options.internalError);
      else res.end();
      console.error(`${options.name}: handler failed`, error);
    };
    try {
      const pending = options.handle(req, res);
      if (pending) pending.catch(fail);
    } catch (error) {
      fail(error);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close() {
      for (const timer of options.timers ?? []) clearTimeout(timer);
      options.timers?.clear();
      if (!server.listening) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // server.close() only stops accepting; idle keep-alive sockets would keep it open.
        server.closeAllConnections();
      });
    },
  };
}
