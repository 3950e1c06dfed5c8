import type { FieldSet } from '../core/types.js';

/**
 * One cached answer about one key of one lookup, as it travels to and from any store: a record, or
 * "this user does not exist" (NOT_FOUND, SUSPENDED), with the upstream fields it was fetched with and
 * how long it is good for. JSON-serializable: Redis holds it as text.
 */
export interface CacheEntry {
  /**
   * As written to a store other processes share (Redis; `entry-check.ts`): the entry's format
   * (`ENTRY_VERSION`), the place it was written under, and the epoch ms it was written, from which its
   * freshness is counted with this deployment's own TTLs. This process's memory keeps none of them.
   */
  v?: number;
  place?: string;
  at?: number;
  /**
   * Read from a store other processes write (Redis), never written: its record is checked against the
   * lookup's wire schema before it answers (`LookupDefinition.isRecord`).
   */
  shared?: true;
  /** The record, as the lookup's codec encoded it; absent for a negative answer. */
  record?: unknown;
  /** A negative answer: the error's code and, when the provider wrote one, its message. */
  missing?: { code: 'NOT_FOUND' | 'SUSPENDED'; message?: string };
  /** The upstream fields the record was fetched with: it answers any operation needing a subset. */
  fields: FieldSet;
  /** Epoch ms until which the entry is fresh. */
  freshUntil: number;
  /** Epoch ms until which it may still be served when the upstream cannot answer (rate limited, down). */
  staleUntil: number;
}

/** Whether a record fetched with `have` answers an operation that needs `need` (both sorted). */
export function covers(have: FieldSet, need: FieldSet): boolean {
  if (need.length === 0) return true;
  if (need.length > have.length) return false;
  // Indexed, not `for…of`: called per record and per field on every hit, where the iterator's result objects
  // were 35 KiB of a 100-user operation's allocations.
  let i = 0;
  for (let at = 0; at < have.length; at++) {
    if (have[at] === need[i]) i++;
    if (i === need.length) return true;
  }
  return i === need.length;
}

/** The sorted union of field sets. */
export function union(...sets: ReadonlyArray<FieldSet | undefined>): FieldSet {
  const all = new Set<string>();
  for (const set of sets) if (set !== undefined) for (const field of set) all.add(field);
  return [...all].sort();
}
