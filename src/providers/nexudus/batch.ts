import type DataLoader from 'dataloader';
import type { Logger } from 'pino';
import { createBatchLoader } from '../../batching/batch-loader.js';
import { mapConcurrently } from '../../batching/map-concurrently.js';
import type { SelectedFields } from '../../plan/selected-fields.js';
import { ProviderError } from '../../upstream/errors.js';
import type { NexudusClient } from './client.js';
import type { NexudusApiUser } from './wire.js';

/**
 * GraphQL fields the batch endpoint leaves empty (its records are partial: see the seed page), so that
 * only a full record (`GET /api/sys/users/{id}`) can answer them.
 */
export const FULL_RECORD_FIELDS = ['isAdmin', 'apiAccess', 'mustResetPassword', 'lastAccess', 'businessIds', 'roles'] as const;

/** Whether an operation selects any field that only a full record has. */
export function needsFullRecords(selected: SelectedFields | undefined): boolean {
  return selected === undefined || FULL_RECORD_FIELDS.some((field) => selected.has(`NexudusUser.${field}`));
}

/**
 * The Nexudus lookup of one request. When the operation selects no full-record field, a tick's distinct
 * ids become one list call per chunk of `maxIdsPerCall`. When it does, the list call would add nothing
 * the full records do not have, so each id costs exactly its own `GET /api/sys/users/{id}` (at most
 * `fullRecordConcurrency` at a time, paced like every call): the fewest calls that can answer.
 */
export function createNexudusLoader(client: NexudusClient, fullRecords: () => boolean, logger: Logger): DataLoader<string, NexudusApiUser, string> {
  return createBatchLoader<NexudusApiUser>({
    provider: 'nexudus',
    maxBatchSize: client.maxIdsPerCall,
    logger,
    fetch: async (ids) => {
      const found = new Map<string, NexudusApiUser | ProviderError>();
      if (fullRecords()) {
        // One failed record fails only its id.
        const users = await mapConcurrently(ids, client.fullRecordConcurrency, (id) =>
          client.one(Number(id)).catch((error: unknown) =>
            error instanceof ProviderError ? error.forId(id) : new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider: 'nexudus', id }),
          ),
        );
        users.forEach((user, i) => {
          if (user !== undefined) found.set(ids[i]!, user);
        });
      } else {
        for (const user of await client.list(ids.map(Number))) found.set(String(user.Id), user);
      }
      return found;
    },
  });
}
