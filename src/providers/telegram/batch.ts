import type DataLoader from 'dataloader';
import type { tl } from '@mtcute/node';
import type { Logger } from 'pino';
import { createBatchLoader } from '../../batching/batch-loader.js';
import { ProviderError } from '../../upstream/errors.js';
import type { TelegramClient } from './client.js';
import { normalizeUsername, type TelegramApiUser } from './wire.js';

/**
 * The Telegram lookups of one request. Ids go through one DataLoader: a tick's distinct ids become
 * one `users.getUsers` RPC per chunk of `maxIdsPerCall`. A username goes to the peer cache first
 * (usernames seen in earlier responses, persisted with the session) and joins the same id batch; only
 * a username never seen costs a `contacts.resolveUsername`, whose answer is primed into the id loader.
 */
export interface TelegramLoaders {
  usersById: DataLoader<string, TelegramApiUser, string>;
  byUsername(username: string): Promise<TelegramApiUser>;
}

export function createTelegramLoaders(client: TelegramClient, logger: Logger): TelegramLoaders {
  const usersById = createBatchLoader<TelegramApiUser>({
    provider: 'telegram',
    maxBatchSize: client.maxIdsPerCall,
    logger,
    fetch: (ids) => fetchUsers(client, ids),
  });
  const byName = new Map<string, Promise<TelegramApiUser>>();

  async function resolve(username: string, key: string): Promise<TelegramApiUser> {
    // The cache lookup resolves within the current tick, so these ids join the batch of the ids asked directly.
    const cachedId = await client.cachedIdForUsername(key);
    if (cachedId !== undefined) return usersById.load(String(cachedId));
    const user = await client.resolveUsername(key);
    if (user === undefined) {
      throw new ProviderError({ code: 'NOT_FOUND', provider: 'telegram', id: username }, `Telegram has no user named ${JSON.stringify(username)}`);
    }
    usersById.prime(String(user.id), user);
    return user;
  }

  return {
    usersById,
    byUsername(username) {
      const key = normalizeUsername(username);
      let user = byName.get(key);
      if (user === undefined) {
        user = resolve(username, key);
        byName.set(key, user);
      }
      return user;
    },
  };
}

/** A user account can only name users it has seen (no access hash otherwise), so nothing is sent. */
const unseen = (id: string) =>
  `Telegram user ${id}: this account has never seen this user, so it cannot look it up by id ` +
  '(a user account sees users through its chats and contacts, or after a lookup by username)';
/** A bot guessed access hash 0 and Telegram did not answer for it. */
const notReturned = (id: string) =>
  `Telegram returned no user ${id}: it does not exist, or this bot has never seen it and Telegram will not show it`;

/** One `users.getUsers` for a chunk of ids, keyed by id; ids absent from the answer are NOT_FOUND. */
async function fetchUsers(client: TelegramClient, ids: readonly string[]): Promise<Map<string, TelegramApiUser | ProviderError>> {
  const found = new Map<string, TelegramApiUser | ProviderError>();
  const inputs: tl.TypeInputUser[] = [];
  const guessed = new Set<string>();
  await Promise.all(
    ids.map(async (id) => {
      const input = await client.inputUser(Number(id));
      if (input === undefined) {
        found.set(id, new ProviderError({ code: 'NOT_FOUND', provider: 'telegram', id }, unseen(id)));
        return;
      }
      if (input._ === 'inputUser' && input.accessHash.isZero()) guessed.add(id);
      inputs.push(input);
    }),
  );
  if (inputs.length === 0) return found;

  let users: tl.TypeUser[];
  try {
    users = await client.getUsers(inputs);
  } catch (error) {
    // PEER_ID_INVALID / USER_INVALID for the whole vector: a guessed access hash was refused. Ask once
    // more for the users whose hash came from the cache; the guessed ones are unknown to this account.
    const retryable = error instanceof ProviderError && error.code === 'BAD_USER_INPUT' && guessed.size > 0;
    if (!retryable) throw error;
    for (const id of guessed) found.set(id, new ProviderError({ code: 'NOT_FOUND', provider: 'telegram', id }, notReturned(id)));
    const known = inputs.filter((input) => !(input._ === 'inputUser' && guessed.has(String(input.userId))));
    users = known.length === 0 ? [] : await client.getUsers(known);
  }

  for (const user of users) {
    const id = String(user.id);
    if (user._ === 'user') found.set(id, user);
    else found.set(id, new ProviderError({ code: 'NOT_FOUND', provider: 'telegram', id })); // userEmpty
  }
  for (const id of guessed) {
    if (!found.has(id)) {
      found.set(id, new ProviderError({ code: 'NOT_FOUND', provider: 'telegram', id }, notReturned(id)));
    }
  }
  return found;
}
