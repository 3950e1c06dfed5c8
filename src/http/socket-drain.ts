import type { Server } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';

/**
 * Ending a server's connections without losing a request (issue 20: SIGTERM under 30 keep-alive clients
 * reset 13 requests, then 24 after the first fix).
 *
 * A keep-alive socket closed by the server while its client writes the next request loses that request
 * (a reset, no HTTP answer). So a drain, in order:
 * 1. stops accepting (`stopAccepting`): a new connection is refused, which a client knows sent nothing,
 *    instead of being accepted and later cut with a request on it. Node's own `server.close()` would also
 *    close every idle socket at once, in the middle of those writes; the listener alone is closed here.
 * 2. leaves each socket until it has been quiet for `quietMs` with nothing in progress (`closeQuiet`):
 *    a client in a loop sends its next request within that, and gets an answer with `Connection: close`
 *    (the handler's, while draining), after which the socket closes by itself.
 */
export class SocketDrain {
  private readonly sockets = new Map<Socket, { busy: number; quietSince: number; used: boolean }>();

  constructor(
    private readonly server: Server,
    private readonly now: () => number = () => performance.now(),
  ) {
    server.on('connection', (socket: Socket) => {
      this.sockets.set(socket, { busy: 0, quietSince: this.now(), used: false });
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req, res) => {
      const state = this.sockets.get(req.socket);
      if (state === undefined) return;
      state.busy++;
      state.used = true;
      res.once('close', () => {
        state.busy--;
        state.quietSince = this.now();
      });
    });
  }

  /** Refuses new connections from now on; the sockets open stay. Resolves once every one has closed. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => {
      // net.Server's close: the listener only (http.Server's also closes idle sockets at once).
      NetServer.prototype.close.call(this.server, () => resolve());
    });
  }

  /**
   * Closes the sockets with no request in progress that have been quiet for at least `quietMs`; one that
   * has carried no request yet, ten times that: its client connected to send one, and a busy process may
   * read it late.
   */
  closeQuiet(quietMs: number): void {
    const now = this.now();
    for (const [socket, { busy, quietSince, used }] of this.sockets) {
      if (busy === 0 && now - quietSince >= (used ? quietMs : 10 * quietMs)) socket.destroy();
    }
  }

  /** Sockets open now. */
  get open(): number {
    return this.sockets.size;
  }
}
