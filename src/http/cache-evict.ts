import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { EvictableLookup } from '../batching/cache-triage.js';
import type { SharedLookups } from '../batching/shared-lookups.js';
import { RedisNotReached } from '../cache/redis-or-memory-cache.js';
import type { ProviderId } from '../core/types.js';
import { readBody, sendJson } from './io.js';

/**
 * `POST /cache/evict` (docs/sharing.md, "Sharing upstream calls"): removes cached records, so that a user whose
 * profile just changed is fetched again instead of served until its TTL runs out. On only when
 * CACHE_ADMIN_TOKEN is set; the caller sends it as `Authorization: Bearer <token>`.
 *
 *   {"provider": "x", "id": "2244994945"}   one user (and a post of that id) of one provider
 *   {"provider": "x"}                        everything of one provider
 *   {"all": true}                            everything
 *
 * With Redis the entries of every replica go at once. Answers `{"evicted": <entries removed>}`. The id is
 * checked as the provider's lookups check keys, and normalized as they do (usernames lower-cased).
 */
export interface EvictOptions {
  /** CACHE_ADMIN_TOKEN; the endpoint answers 404 without one. */
  adminToken: string | undefined;
  shared: SharedLookups | undefined;
  /** The providers, and the keys of their lookups (an id is checked and normalized as a lookup takes it). */
  providers: ReadonlyArray<{ readonly id: ProviderId; readonly lookups: ReadonlyArray<EvictableLookup> }>;
  logger: Logger;
}

const request = z.union([
  z.object({ all: z.literal(true) }).strict(),
  z.object({ provider: z.string().min(1).max(64), id: z.string().min(1).max(256).optional() }).strict(),
]);

/** The largest body an eviction request may have. */
const MAX_BODY_BYTES = 4096;

export async function handleEvict(req: IncomingMessage, res: ServerResponse, options: EvictOptions): Promise<void> {
  const { adminToken, shared, providers, logger } = options;
  if (adminToken === undefined || shared === undefined) return sendJson(res, 404, { error: 'not found' });
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST' }, { allow: 'POST' });
  if (!authorized(req.headers.authorization, adminToken)) {
    return sendJson(res, 401, { error: 'send CACHE_ADMIN_TOKEN as Authorization: Bearer <token>' }, { 'www-authenticate': 'Bearer' });
  }
  const text = await readBody(req, MAX_BODY_BYTES);
  if (text === undefined) return sendJson(res, 413, { error: `at most ${MAX_BODY_BYTES} bytes` }, { connection: 'close' });
  let parsed: z.infer<typeof request>;
  try {
    const result = request.safeParse(JSON.parse(text));
    if (!result.success) throw new Error('shape');
    parsed = result.data;
  } catch {
    return sendJson(res, 400, { error: 'send {"provider": "<name>", "id": "<id>"}, {"provider": "<name>"} or {"all": true}' });
  }
  if ('all' in parsed) {
    try {
      const evicted = await shared.evict();
      logger.info({ evicted }, 'record cache emptied on request');
      return sendJson(res, 200, { evicted });
    } catch (error) {
      if (!(error instanceof RedisNotReached)) throw error;
      return redisNotReached(res, error, logger);
    }
  }
  const provider = providers.find((p) => p.id.name === parsed.provider);
  if (provider === undefined) {
    return sendJson(res, 400, { error: `unknown provider; one of ${providers.map((p) => p.id.name).join(', ')}` });
  }
  let key: string | undefined;
  if (parsed.id !== undefined) {
    const lookup = provider.lookups.find((l) => l.key.isValid(parsed.id!));
    if (lookup === undefined) return sendJson(res, 400, { error: `not a valid ${provider.id.label} id` });
    key = lookup.key.normalize?.(parsed.id) ?? parsed.id;
  }
  try {
    const evicted = await shared.evict(provider.id.name, key, key === undefined ? undefined : provider.lookups);
    logger.info({ provider: provider.id.name, oneId: key !== undefined, evicted }, 'cache entries evicted on request');
    return sendJson(res, 200, { evicted });
  } catch (error) {
    if (!(error instanceof RedisNotReached)) throw error;
    return redisNotReached(res, error, logger);
  }
}

/** Compares digests, so the time taken says nothing about how much of the token was right. */
function authorized(header: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  if (match === null) return false;
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(match[1]!), digest(token));
}

/** 503: the other replicas' entries were not reached; this process's were evicted. The caller should try again. */
function redisNotReached(res: ServerResponse, error: RedisNotReached, logger: Logger): void {
  logger.warn({ evictedHere: error.evictedHere }, 'eviction could not reach Redis');
  sendJson(
    res,
    503,
    { error: 'Redis could not be reached: the other replicas still hold these entries; try again', evictedHere: error.evictedHere },
    { 'retry-after': '1' },
  );
}
