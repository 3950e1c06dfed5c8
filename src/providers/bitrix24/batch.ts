import type { Logger } from 'pino';
import { attribute } from '../../core/attribution.js';
import { ProviderError } from '../../core/errors.js';
import { Lookup, type ResolverContext, type Runtime, RuntimeSlot, shownKey } from '../../core/lookup.js';
import type { CallerCredential } from '../../core/types.js';
import { type Bitrix24Portal, type Bitrix24Service, codeForBitrixError, type UserListOutcome } from './client.js';
import { BITRIX24 } from './id.js';
import { BITRIX_MAX_BATCH_COMMANDS, type Bitrix24UserRecord, BitrixApiUser, isBitrixId } from './wire.js';

/**
 * Bitrix24 users by id, within one portal (the loader's partition). A tick's distinct ids for a portal
 * are cut into `im.user.list.get` commands of `maxIdsPerCall` ids; one command is sent as is, several
 * travel together in one `batch` request (up to 50 commands), so 120 ids cost one HTTP request and
 * 2,500 still one. `AVATAR_HR=Y` is asked only when `avatarHr` is selected.
 */
export const bitrix24Users = new Lookup<Bitrix24UserRecord>({
  provider: BITRIX24,
  name: 'users',
  type: 'Bitrix24User',
  key: { isValid: isBitrixId, expected: 'a Bitrix24 user id (a positive integer up to 2147483647)' },
  fields: (selected) => (selected === undefined || selected.has('Bitrix24User.avatarHr') ? ['AVATAR_HR'] : []),
  // The id the cached user carries, as attributed when it was fetched.
  keyOf: (record) => {
    const id = (record as { user?: { id?: unknown } } | null)?.user?.id;
    return typeof id === 'string' || typeof id === 'number' ? String(Number(id)) : undefined;
  },
  isRecord: (record) =>
    typeof (record as { portal?: unknown } | null)?.portal === 'string' &&
    BitrixApiUser.safeParse((record as { user?: unknown }).user).success,
});

/** A budget that grants every permit. */
const OPEN = { take: () => ({ granted: true }) as const };

/** The service each runtime runs Bitrix24 with: what resolvers reach for its portals. */
export const bitrix24Services = new RuntimeSlot<Bitrix24Service>();

/** The lookup made with `service`, in `runtime`. */
export function bindBitrix24(service: Bitrix24Service, runtime: Runtime): void {
  bitrix24Services.set(runtime, service);
  bitrix24Users.bind(runtime, {
    maxBatchSize: service.maxIdsPerCall * BITRIX_MAX_BATCH_COMMANDS,
    // A portal that is not configured has no budget: its keys fail before they reach a queue.
    budget: (_scope, partition) => service.portals.get(partition)?.budget ?? OPEN,
    async fetch(ids, scope) {
      const portal = service.portals.get(scope.partition);
      if (portal === undefined) throw new ProviderError({ code: 'BAD_USER_INPUT', provider: BITRIX24 }); // checked by bitrix24Portal first
      return fetchUsers(
        portal,
        ids,
        service.maxIdsPerCall,
        scope.fields.includes('AVATAR_HR'),
        scope.signal,
        scope.credential,
        scope.logger,
      );
    },
  });
}

/**
 * The portal a lookup names: `portal` when it is configured, or the only portal when it is omitted.
 * An unknown name does not list the configured ones: they are this deployment's business.
 */
export function bitrix24Portal(context: ResolverContext, portal: string | null | undefined): string | ProviderError {
  const service = bitrix24Services.in(context.runtime);
  if (service === undefined) return new ProviderError({ code: 'PROVIDER_NOT_CONFIGURED', provider: BITRIX24 });
  if (portal == null) {
    if (service.portals.size === 1) return service.portals.keys().next().value!;
    return new ProviderError(
      { code: 'BAD_USER_INPUT', provider: BITRIX24 },
      'Several Bitrix24 portals are configured: name one with the `portal` argument',
    );
  }
  if (service.portals.has(portal)) return portal;
  return new ProviderError(
    { code: 'BAD_USER_INPUT', provider: BITRIX24 },
    `No Bitrix24 portal named ${JSON.stringify(portal.slice(0, 100))} is configured`,
  );
}

/** A Bitrix24 user, by portal and id: through the portal's loader, or the reason there is none. */
export function loadBitrix24User(context: ResolverContext, id: unknown, portal: unknown): Promise<Bitrix24UserRecord> {
  const name =
    typeof portal === 'string' || portal == null
      ? bitrix24Portal(context, portal)
      : new ProviderError({ code: 'BAD_USER_INPUT', provider: BITRIX24 }, 'A Bitrix24 portal is named by a string');
  if (name instanceof ProviderError) return Promise.reject(name.forId(shownKey(id)));
  return context.load(bitrix24Users, id, name);
}

async function fetchUsers(
  portal: Bitrix24Portal,
  ids: readonly string[],
  maxIdsPerCall: number,
  avatarHr: boolean,
  signal: AbortSignal,
  credential: CallerCredential | undefined,
  logger: Logger,
): Promise<Map<string, Bitrix24UserRecord | ProviderError>> {
  const chunks: number[][] = [];
  for (let i = 0; i < ids.length; i += maxIdsPerCall) chunks.push(ids.slice(i, i + maxIdsPerCall).map(Number));
  const outcomes: UserListOutcome[] =
    chunks.length === 1
      ? [await portal.userList(chunks[0]!, avatarHr, signal, credential)]
      : await portal.batchUserLists(chunks, avatarHr, signal, credential);

  const found = new Map<string, Bitrix24UserRecord | ProviderError>();
  outcomes.forEach((outcome, i) => {
    if ('error' in outcome) {
      // A command of the batch failed: every id it carried gets that failure; the other commands stand.
      const code = codeForBitrixError(outcome.error.error);
      for (const id of chunks[i]!) found.set(String(id), new ProviderError({ code, provider: BITRIX24, id: String(id) }));
      return;
    }
    // Each record under the id it carries, never the key it sat at (a portal may answer {"6": {"id": 7}}); a
    // `null` at an asked id is the portal's "unknown id". Bitrix24 answers every id asked, one way or the other.
    const asked = chunks[i]!.map(String);
    const unknown = new Map<string, ProviderError>();
    const records: BitrixApiUser[] = [];
    for (const [key, user] of Object.entries(outcome.users)) {
      if (user === null) unknown.set(key, new ProviderError({ code: 'NOT_FOUND', provider: BITRIX24, id: key }));
      else records.push(user);
    }
    const attributed = attribute(asked, records, unknown, {
      provider: BITRIX24,
      method: 'im.user.list.get',
      logger,
      idOf: (user) => String(Number(user.id)),
      everyIdAnswered: true,
    });
    for (const [id, value] of attributed) found.set(id, value instanceof ProviderError ? value : { portal: portal.name, user: value });
  });
  return found;
}
