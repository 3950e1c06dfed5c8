import type { CacheEntry } from './entry.js';

/**
 * What comes back from a store other processes share is not trusted (issue 20): Redis may hold an entry
 * of another shape (a rolling deploy, a bug, someone with access), one written under another place, or one
 * that claims to be fresh for ever. An entry answers only if it is of this format and was written for the
 * place it is read from (`checkEntry`, else a miss, counted by reason as
 * `users_subgraph_cache_rejected_entries_total`, and overwritten by the next answer); and it is fresh no
 * longer than this deployment's own TTLs from when it was written, never after now (`capFreshness`).
 */
export const ENTRY_VERSION = 1;

export type Rejection = 'shape' | 'version' | 'place';

/** `stored` (parsed JSON) as an entry of `place`, or why it is not one. */
export function checkEntry(stored: unknown, place: string): CacheEntry | Rejection {
  if (stored === null || typeof stored !== 'object' || Array.isArray(stored)) return 'shape';
  const entry = stored as Record<string, unknown>;
  if (entry.v !== ENTRY_VERSION) return 'version';
  if (entry.place !== place) return 'place';
  const { fields, freshUntil, staleUntil, at, missing } = entry;
  if (!Array.isArray(fields) || !fields.every((field) => typeof field === 'string')) return 'shape';
  if (!isTime(freshUntil) || !isTime(staleUntil) || !isTime(at)) return 'shape';
  if (missing !== undefined) {
    if (missing === null || typeof missing !== 'object') return 'shape';
    const { code, message } = missing as { code?: unknown; message?: unknown };
    if ((code !== 'NOT_FOUND' && code !== 'SUSPENDED') || (message !== undefined && typeof message !== 'string')) return 'shape';
  } else if (entry.record === undefined) {
    return 'shape';
  }
  return stored as CacheEntry;
}

export interface FreshnessLimits {
  ttlMs: number;
  missingTtlMs: number;
  staleMs: number;
}

/** `entry` fresh, and servable stale, no longer than `limits` allow from when it was written (never after `now`). */
export function capFreshness(entry: CacheEntry, limits: FreshnessLimits, now: number): CacheEntry {
  if (entry.at === undefined) return entry;
  const written = Math.min(entry.at, now);
  const negative = entry.missing !== undefined;
  const freshUntil = Math.min(entry.freshUntil, written + (negative ? limits.missingTtlMs : limits.ttlMs));
  const staleUntil = Math.max(freshUntil, Math.min(entry.staleUntil, freshUntil + (negative ? 0 : limits.staleMs)));
  if (freshUntil === entry.freshUntil && staleUntil === entry.staleUntil) return entry;
  return { ...entry, freshUntil, staleUntil };
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
