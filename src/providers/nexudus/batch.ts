import { attribute } from '../../core/attribution.js';
import { IncompleteRecord, ProviderError } from '../../core/errors.js';
import { Lookup, type Runtime } from '../../core/lookup.js';
import { mapConcurrently } from '../../upstream/map-concurrently.js';
import type { NexudusClient } from './client.js';
import { NEXUDUS } from './id.js';
import { NEXUDUS_ID_PATTERN, NexudusUserRecord } from './wire.js';

/**
 * GraphQL fields the batch endpoint leaves empty (its records are partial, as its documentation warns), so that
 * only a full record (`GET /api/sys/users/{id}`) can answer them.
 */
export const FULL_RECORD_FIELDS = ['isAdmin', 'apiAccess', 'mustResetPassword', 'lastAccess', 'businessIds', 'roles'] as const;

/** The field set of an operation that selects a full-record field. A full record answers everything a partial one does. */
export const FULL = 'full';

/**
 * Nexudus users by id. When the operation selects no full-record field, a tick's distinct ids become one
 * list call per chunk of `maxIdsPerCall`. When it does, the list call would add nothing the full records
 * do not have, so each id costs exactly its own `GET /api/sys/users/{id}` (at most `fullRecordConcurrency`
 * at a time, paced like every call): the fewest calls that can answer.
 *
 * A full record the upstream could not give (unavailable, rate limited) is not the end of it: the ids
 * whose full records failed so are asked of the list call (one per chunk, on failure only), and each
 * list record found answers as an `IncompleteRecord`: its fields answer, the full-record fields say why
 * they do not. Every record is filed under the id it carries, and only for an id that was asked.
 */
export const nexudusUsers = new Lookup<NexudusUserRecord>({
  provider: NEXUDUS,
  name: 'users',
  type: 'NexudusUser',
  key: { isValid: (id) => NEXUDUS_ID_PATTERN.test(id), expected: 'a Nexudus user id (a positive integer)' },
  fields: (selected) => (selected === undefined || FULL_RECORD_FIELDS.some((field) => selected.has(`NexudusUser.${field}`)) ? [FULL] : []),
  // The id the cached user carries, as attributed when it was fetched.
  keyOf: (record) => {
    const id = (record as { Id?: unknown } | null)?.Id;
    return typeof id === 'number' ? String(id) : undefined;
  },
  isRecord: (record) => NexudusUserRecord.safeParse(record).success,
});

/** The lookup made with `client`, in `runtime`. */
export function bindNexudusLookups(client: NexudusClient, runtime: Runtime): void {
  nexudusUsers.bind(runtime, {
    maxBatchSize: client.maxIdsPerCall,
    budget: () => client.budget,
    // Full records cost one call each, paced at about ten a second: an operation gets a bounded number.
    maxKeysPerOperation: (fields) =>
      fields.includes(FULL)
        ? {
            variable: 'NEXUDUS_MAX_FULL_RECORDS_PER_OPERATION',
            max: client.maxFullRecordsPerOperation,
            why: `at most ${client.maxFullRecordsPerOperation} users per operation when a full-record field is selected (NEXUDUS_MAX_FULL_RECORDS_PER_OPERATION)`,
          }
        : undefined,
    async fetch(ids, scope) {
      const found = new Map<string, NexudusUserRecord | ProviderError>();
      if (scope.fields.includes(FULL)) {
        // One failed record fails only its id.
        const users = await mapConcurrently(ids, client.fullRecordConcurrency, (id) =>
          client.fullUser(Number(id), scope.signal).catch((error: unknown) => {
            if (error instanceof ProviderError) return error.forId(id);
            scope.logger.error({ provider: NEXUDUS.name, err: error }, 'full record failed: a bug, not an upstream answer');
            return new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider: NEXUDUS, id });
          }),
        );
        const failed = new Map<string, ProviderError>();
        users.forEach((user, i) => {
          if (user === undefined) return;
          found.set(ids[i]!, user);
          if (user instanceof ProviderError && (user.code === 'UPSTREAM_UNAVAILABLE' || user.code === 'RATE_LIMITED'))
            failed.set(ids[i]!, user);
        });
        if (failed.size > 0 && !scope.signal.aborted) await keepListRecords(client, failed, found, scope.signal);
      } else {
        // A list filtered by id: an id it leaves out is not found, unless it answered ids nobody asked.
        const users = await client.partialUsers(ids.map(Number), scope.signal);
        const attributed = attribute(ids, users, new Map(), {
          provider: NEXUDUS,
          method: 'GET /api/sys/users',
          logger: scope.logger,
          idOf: (user) => String(user.Id),
          everyIdAnswered: false,
        });
        for (const [id, value] of attributed) found.set(id, value);
      }
      return found;
    },
  });
}

/** The list records of ids whose full records failed, as incomplete records; a list call that fails too changes nothing. */
async function keepListRecords(
  client: NexudusClient,
  failed: ReadonlyMap<string, ProviderError>,
  found: Map<string, NexudusUserRecord | ProviderError>,
  signal: AbortSignal,
): Promise<void> {
  const ids = [...failed.keys()];
  for (let from = 0; from < ids.length; from += client.maxIdsPerCall) {
    let users: NexudusUserRecord[];
    try {
      users = await client.partialUsers(ids.slice(from, from + client.maxIdsPerCall).map(Number), signal);
    } catch {
      continue; // the full records' own failures stand
    }
    for (const user of users) {
      const id = String(user.Id);
      const failure = failed.get(id);
      if (failure !== undefined) found.set(id, new IncompleteRecord(failure, user, []));
    }
  }
}
