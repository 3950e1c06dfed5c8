import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { SharedLookups } from '../batching/shared-lookups.js';
import type { Config } from '../config.js';
import { prefersHtml, serveGraphiQL } from '../explorer/index.js';
import { registry } from '../telemetry/metrics.js';
import type { Circuits } from '../upstream/circuit.js';
import type { BudgetReading } from '../upstream/shared-state.js';
import { handleEvict } from './cache-evict.js';
import type { InFlight } from './in-flight.js';
import { sendJson } from './io.js';

export interface Routes {
  config: Pick<Config, 'explorer' | 'sharing' | 'providers' | 'demo'>;
  /** `/graphql` (`src/http/graphql-handler.ts`). */
  graphql: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  inFlight: InFlight;
  circuits: Circuits | undefined;
  /** The upstream windows of the server's own credentials as the budget planner knows them (`/ready`). */
  budgets: (() => Promise<BudgetReading[]>) | undefined;
  shared: SharedLookups | undefined;
  logger: Logger;
}

/**
 * The subgraph's endpoints (docs/operations.md, "HTTP endpoints"): `/graphql` (and `/`; a browser's page there is
 * the explorer, `src/explorer/`), `/health`, `/ready`, `/cache/evict` and `/metrics`.
 */
export function router(routes: Routes): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { config, graphql, inFlight, circuits, budgets, shared, logger } = routes;
  const readBudgets = budgets === undefined ? async () => [] : latestWithin(budgets, READY_BUDGETS_WAIT_MS);
  return async (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    switch (path) {
      case '/graphql':
      case '/':
        // A browser's page (docs/operations.md, "Explorer"): GraphiQL, or nothing when EXPLORER=off; Apollo serves Sandbox.
        if (config.explorer !== 'sandbox' && prefersHtml(req.method, req.headers.accept)) {
          return config.explorer === 'graphiql' ? serveGraphiQL(req, res) : sendJson(res, 404, { error: 'not found' });
        }
        return graphql(req, res);
      case '/health':
        return sendJson(res, 200, { status: 'ok' });
      case '/ready': {
        // A circuit that is open does not make the subgraph unready: its other providers still answer.
        const accepting = inFlight.accepting;
        // Nor does a spent upstream window: its lookups answer RATE_LIMITED with retryAfter until the reset.
        const body = {
          status: accepting ? 'ready' : 'shutting down',
          // The demo is ready too, but a probe or a person reading this should see it is not the real APIs.
          demo: config.demo,
          circuits: circuits?.states() ?? [],
          budgets: await readBudgets(),
        };
        return sendJson(res, accepting ? 200 : 503, body);
      }
      case '/cache/evict':
        return handleEvict(req, res, { adminToken: config.sharing.adminToken, shared, providers: config.providers, logger });
      case '/metrics': {
        const text = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
        return;
      }
      default:
        return sendJson(res, 404, { error: 'not found' });
    }
  };
}

/**
 * How long `/ready` waits for the budgets' reading. It comes from Redis, which may be failing over (a
 * Cluster's or a Sentinel's client waits that out, seconds): a probe's timeout is often a second, and every
 * replica shares the Redis, so a slow reading would take them all out of service at once.
 */
export const READY_BUDGETS_WAIT_MS = 250;

/**
 * `read`, answered within `ms`: its reading, or, when it is late or fails, the last one it gave (`[]` before
 * any). A late reading still lands, for the next call.
 */
export function latestWithin<T>(read: () => Promise<T[]>, ms: number): () => Promise<T[]> {
  let last: T[] = [];
  return async () => {
    const reading = read().then((value) => {
      last = value;
      return value;
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<T[]>((resolve) => {
      timer = setTimeout(() => resolve(last), ms);
    });
    try {
      return await Promise.race([reading, late]);
    } catch {
      return last;
    } finally {
      clearTimeout(timer);
    }
  };
}
