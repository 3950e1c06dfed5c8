import type { IncomingMessage } from 'node:http';
import { type EmulatorClock, systemEmulatorClock } from '../../../src/emulators/clock.js';
import { FaultQueue, type HttpFault } from '../../../src/emulators/fault-queue.js';
import { startLoopbackServer } from '../../../src/emulators/loopback-server.js';
import { faultReply, jsonReply, type Reply, ReplySender } from '../../../src/emulators/reply.js';
import { RequestLog } from '../../../src/emulators/request-log.js';
import type { RunningEmulator } from '../../../src/providers/kit.js';

/** The key the test set-up gives Acme; the emulator refuses any other. */
export const ACME_TEST_KEY = 'acme-k3y-0123456789';
/** People 1..5000 exist. */
export const ACME_PEOPLE = 5_000;

export interface AcmeRequest {
  path: string;
  ids: string[];
  /** The `fields` parameter, as sent ('' without one). */
  fields: string;
  status: number;
}

export interface AcmeEmulator {
  url: string;
  requests: AcmeRequest[];
  faults: FaultQueue<HttpFault>;
  failNext(count: number, fault: HttpFault): void;
  reset(): void;
  close(): Promise<void>;
}

/**
 * Acme's API as strictly as a real one: the key checked, at most 50 ids, fields only when asked for, and
 * failures with Acme's own bodies (401, 429 with Retry-After, 503), plus every `HttpFault`.
 */
export async function startAcmeEmulator(options: { clock?: EmulatorClock } = {}): Promise<AcmeEmulator> {
  const clock = options.clock ?? systemEmulatorClock;
  const log = new RequestLog<AcmeRequest>();
  const faults = new FaultQueue<HttpFault>();
  const sender = new ReplySender();
  const own = (status: number): Reply =>
    status === 401
      ? jsonReply(401, { error: 'invalid_key' })
      : status === 429
        ? jsonReply(429, { error: 'slow_down' }, { 'retry-after': '30' })
        : jsonReply(status, { error: 'maintenance', at: new Date(clock.now()).toISOString() });

  function people(req: IncomingMessage, url: URL): Reply {
    if (req.headers.authorization !== `Token ${ACME_TEST_KEY}`) return own(401);
    const ids = (url.searchParams.get('ids') ?? '').split(',');
    if (ids.length > 50 || ids.some((id) => !/^[1-9][0-9]{0,8}$/.test(id))) return jsonReply(400, { error: 'bad_ids' });
    const fields = new Set((url.searchParams.get('fields') ?? '').split(',').filter((field) => field !== ''));
    const found = [...new Set(ids)]
      .map(Number)
      .filter((id) => id <= ACME_PEOPLE)
      .map((id) => ({
        id,
        name: `Person ${id}`,
        ...(fields.has('email') ? { email: `person${id}@acme.example` } : {}),
        ...(fields.has('title') ? { title: id % 2 === 0 ? 'Engineer' : 'Designer' } : {}),
      }));
    return jsonReply(200, { people: found });
  }

  const server = await startLoopbackServer({
    name: 'acme emulator',
    timers: sender.timers,
    internalError: own(500),
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://acme');
      const record = log.add({
        path: url.pathname,
        ids: (url.searchParams.get('ids') ?? '').split(',').filter((id) => id !== ''),
        fields: url.searchParams.get('fields') ?? '',
        status: 0,
      });
      if (url.pathname !== '/v1/people' || req.method !== 'GET') return sender.send(res, jsonReply(404, { error: 'not_found' }), record);
      const fault = faults.next(url.pathname);
      sender.send(res, fault === undefined ? people(req, url) : faultReply(fault, { own, normal: () => people(req, url) }), record);
    },
  });
  return {
    url: server.url,
    requests: log.entries,
    faults,
    failNext: (count, fault) => faults.add(count, fault),
    reset() {
      log.clear();
      faults.clear();
    },
    close: () => server.close(),
  };
}

/** The kit's `start`: the emulator, and the variables that point Acme at it. */
export async function start(_mode: 'demo' | 'test', options: { clock?: EmulatorClock } = {}): Promise<RunningEmulator<AcmeEmulator>> {
  const emulator = await startAcmeEmulator(options);
  return {
    env: { ACME_API_KEY: ACME_TEST_KEY, ACME_BASE_URL: emulator.url },
    location: emulator.url,
    handle: emulator,
    reset: () => emulator.reset(),
    close: () => emulator.close(),
  };
}
