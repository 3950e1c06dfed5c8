import type DataLoader from 'dataloader';
import type { Logger } from 'pino';
import { createBatchLoader } from '../../batching/batch-loader.js';
import { ProviderError } from '../../upstream/errors.js';
import { codeForBitrixError, type Bitrix24Portal, type UserListOutcome } from './client.js';
import { BITRIX_MAX_BATCH_COMMANDS, type Bitrix24UserRecord } from './wire.js';

/**
 * The Bitrix24 lookups of one request: one DataLoader per portal, made when first asked for. A tick's
 * distinct ids for a portal are cut into `im.user.list.get` commands of `maxIdsPerCall` ids; one
 * command is sent as is, several travel together in one `batch` request (up to 50 commands), so 120
 * ids cost one HTTP request and 2,500 still one.
 */
export interface Bitrix24Loaders {
  /** The loader of the named portal (or of the only one), or why there is none. */
  forPortal(portal: string | null | undefined): DataLoader<string, Bitrix24UserRecord, string> | ProviderError;
}

export function createBitrix24Loaders(
  portals: ReadonlyMap<string, Bitrix24Portal>,
  maxIdsPerCall: number,
  avatarHr: () => boolean,
  logger: Logger,
): Bitrix24Loaders {
  const loaders = new Map<string, DataLoader<string, Bitrix24UserRecord, string>>();
  return {
    forPortal(name) {
      const portal = name == null ? onlyPortal(portals) : portals.get(name) ?? unknownPortal(name, portals);
      if (portal instanceof ProviderError) return portal;
      let loader = loaders.get(portal.name);
      if (loader === undefined) {
        loader = createBatchLoader<Bitrix24UserRecord>({
          provider: 'bitrix24',
          maxBatchSize: maxIdsPerCall * BITRIX_MAX_BATCH_COMMANDS,
          logger,
          fetch: (ids) => fetchUsers(portal, ids, maxIdsPerCall, avatarHr()),
        });
        loaders.set(portal.name, loader);
      }
      return loader;
    },
  };
}

async function fetchUsers(
  portal: Bitrix24Portal,
  ids: readonly string[],
  maxIdsPerCall: number,
  avatarHr: boolean,
): Promise<Map<string, Bitrix24UserRecord | ProviderError>> {
  const chunks: number[][] = [];
  for (let i = 0; i < ids.length; i += maxIdsPerCall) chunks.push(ids.slice(i, i + maxIdsPerCall).map(Number));
  const outcomes: UserListOutcome[] =
    chunks.length === 1 ? [await portal.userList(chunks[0]!, avatarHr)] : await portal.batchUserLists(chunks, avatarHr);

  const found = new Map<string, Bitrix24UserRecord | ProviderError>();
  outcomes.forEach((outcome, i) => {
    if ('error' in outcome) {
      // A command of the batch failed: every id it carried gets that failure; the other commands stand.
      const code = codeForBitrixError(outcome.error.error);
      for (const id of chunks[i]!) found.set(String(id), new ProviderError({ code, provider: 'bitrix24', id: String(id) }));
      return;
    }
    for (const [id, user] of Object.entries(outcome.users)) {
      if (user !== null) found.set(id, { portal: portal.name, user }); // null: unknown id, NOT_FOUND by default
    }
  });
  return found;
}

function onlyPortal(portals: ReadonlyMap<string, Bitrix24Portal>): Bitrix24Portal | ProviderError {
  if (portals.size === 1) return portals.values().next().value!;
  const names = [...portals.keys()].join(', ');
  return new ProviderError(
    { code: 'BAD_USER_INPUT', provider: 'bitrix24' },
    `Several Bitrix24 portals are configured (${names}): name one with the \`portal\` argument`,
  );
}

function unknownPortal(name: string, portals: ReadonlyMap<string, Bitrix24Portal>): ProviderError {
  return new ProviderError(
    { code: 'BAD_USER_INPUT', provider: 'bitrix24' },
    `No Bitrix24 portal named ${JSON.stringify(name)} is configured (configured: ${[...portals.keys()].join(', ')})`,
  );
}
