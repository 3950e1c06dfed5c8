import type { tl } from '@mtcute/node';
import type { Logger } from 'pino';
import { attribute } from '../../core/attribution.js';
import { ProviderError } from '../../core/errors.js';
import { checkKey, Lookup, type ResolverContext, type Runtime, RuntimeSlot } from '../../core/lookup.js';
import type { TelegramClient } from './client.js';
import { TELEGRAM } from './id.js';
import { isTelegramId, normalizeUsername, TELEGRAM_USERNAME_PATTERN, type TelegramApiUser } from './wire.js';

/**
 * Telegram users by id: a tick's distinct ids become one `users.getUsers` RPC per chunk of
 * `maxIdsPerCall`, each id named by the `InputUser` the peer cache knows (or, for a bot, access hash 0).
 */
export const telegramUsers = new Lookup<TelegramApiUser>({
  provider: TELEGRAM,
  name: 'users',
  type: 'TelegramUser',
  key: { isValid: isTelegramId, expected: 'a Telegram user id (a positive integer up to 2^53-1)' },
  fields: () => [], // users.getUsers has no field selection: a user comes whole
});

/**
 * Telegram users by a username the peer cache has never seen: one `contacts.resolveUsername` each
 * (Telegram has no batch form of it, and flood-limits it hard), whose user is handed to the id lookup.
 * Being a lookup, such names count towards the operation's cap on distinct keys, are asked once however
 * many requests want them at the same moment, and their answers (a miss included) are cached like any.
 */
export const telegramUsersByUsername = new Lookup<TelegramApiUser>({
  provider: TELEGRAM,
  name: 'usersByUsername',
  type: 'TelegramUser',
  key: {
    isValid: (name) => TELEGRAM_USERNAME_PATTERN.test(name),
    expected: 'a Telegram username (4-32 letters, digits or _, starting with a letter)',
    normalize: normalizeUsername,
  },
  fields: () => [],
});

/** The client each runtime runs Telegram with: what a lookup by username asks first (its peer cache). */
const telegramClients = new RuntimeSlot<TelegramClient>();

/** The lookups made with `client`, in `runtime`; MTProto records kept in the cache in their binary form. */
export function bindTelegramLookups(client: TelegramClient, runtime: Runtime): void {
  telegramClients.set(runtime, client);
  const codec = { encode: (user: TelegramApiUser) => client.encodeUser(user), decode: (stored: unknown) => client.decodeUser(stored) };
  telegramUsers.bind(runtime, {
    maxBatchSize: client.maxIdsPerCall,
    budget: () => client.budget,
    fetch: (ids, scope) => fetchUsers(client, ids, scope.signal, scope.logger),
    codec,
  });
  telegramUsersByUsername.bind(runtime, {
    maxBatchSize: 1,
    budget: () => client.budget,
    async fetch(usernames, scope) {
      const found = new Map<string, TelegramApiUser>();
      for (const username of usernames) {
        const user = await client.resolveUsername(username, scope.signal);
        if (user === undefined) continue; // NOT_FOUND: `telegramUserByUsername` names it as it was asked
        scope.prime(telegramUsers, String(user.id), user, []);
        found.set(username, user);
      }
      return found;
    },
    codec,
  });
}

/**
 * A user by username. The peer cache is asked first (usernames seen in earlier responses, persisted with
 * the session): a known name joins the request's id batch, because the cache answers within the current
 * tick. Only a name never seen goes through `telegramUsersByUsername`.
 */
export async function telegramUserByUsername(context: ResolverContext, username: unknown): Promise<TelegramApiUser> {
  const checked = checkKey(TELEGRAM, telegramUsersByUsername.key, username);
  if (checked instanceof ProviderError) throw checked;
  const client = telegramClients.in(context.runtime);
  if (client === undefined) throw new ProviderError({ code: 'PROVIDER_NOT_CONFIGURED', provider: TELEGRAM, id: checked });
  const cachedId = await client.cachedIdForUsername(normalizeUsername(checked));
  if (cachedId !== undefined) return context.load(telegramUsers, String(cachedId));
  try {
    return await context.load(telegramUsersByUsername, checked);
  } catch (error) {
    if (!(error instanceof ProviderError && error.code === 'NOT_FOUND')) throw error;
    throw new ProviderError(
      { code: 'NOT_FOUND', provider: TELEGRAM, id: checked },
      `Telegram has no user named ${JSON.stringify(checked)}`,
    );
  }
}

/** A user account can only name users it has seen (no access hash otherwise), so nothing is sent. */
const unseen = (id: string) =>
  `Telegram user ${id}: this account has never seen this user, so it cannot look it up by id ` +
  '(a user account sees users through its chats and contacts, or after a lookup by username)';
/** A bot guessed access hash 0 and Telegram did not answer for it. */
const notReturned = (id: string) =>
  `Telegram returned no user ${id}: it does not exist, or this bot has never seen it and Telegram will not show it`;

/** One `users.getUsers` for a chunk of ids, keyed by id; ids absent from the answer are NOT_FOUND. */
async function fetchUsers(
  client: TelegramClient,
  ids: readonly string[],
  signal: AbortSignal,
  logger: Logger,
): Promise<Map<string, TelegramApiUser | ProviderError>> {
  const found = new Map<string, TelegramApiUser | ProviderError>();
  const inputs: tl.TypeInputUser[] = [];
  const guessed = new Set<string>();
  await Promise.all(
    ids.map(async (id) => {
      const input = await client.inputUser(Number(id));
      if (input === undefined) {
        found.set(id, new ProviderError({ code: 'NOT_FOUND', provider: TELEGRAM, id }, unseen(id)));
        return;
      }
      if (input._ === 'inputUser' && input.accessHash.isZero()) guessed.add(id);
      inputs.push(input);
    }),
  );
  if (inputs.length === 0) return found;

  let users: tl.TypeUser[];
  try {
    users = await client.getUsers(inputs, signal);
  } catch (error) {
    // PEER_ID_INVALID / USER_INVALID for the whole vector: a guessed access hash was refused. Ask once
    // more for the users whose hash came from the cache; the guessed ones are unknown to this account.
    const retryable = error instanceof ProviderError && error.code === 'BAD_USER_INPUT' && guessed.size > 0;
    if (!retryable) throw error;
    for (const id of guessed) found.set(id, new ProviderError({ code: 'NOT_FOUND', provider: TELEGRAM, id }, notReturned(id)));
    const known = inputs.filter((input) => !(input._ === 'inputUser' && guessed.has(String(input.userId))));
    users = known.length === 0 ? [] : await client.getUsers(known, signal);
  }

  // Each user under the id it carries, and only for an id asked: users Telegram sent for ids nobody asked
  // make the asked ones it left out UPSTREAM_UNAVAILABLE, not "not found".
  const attributed = attribute(
    ids.filter((id) => !found.has(id)),
    users,
    new Map(),
    { provider: TELEGRAM, method: 'users.getUsers', logger, idOf: (user) => String(user.id), everyIdAnswered: false },
  );
  for (const [id, user] of attributed) {
    if (user instanceof ProviderError || user._ === 'user') found.set(id, user);
    else found.set(id, new ProviderError({ code: 'NOT_FOUND', provider: TELEGRAM, id })); // userEmpty
  }
  for (const id of guessed) {
    if (!found.has(id)) {
      found.set(id, new ProviderError({ code: 'NOT_FOUND', provider: TELEGRAM, id }, notReturned(id)));
    }
  }
  return found;
}
