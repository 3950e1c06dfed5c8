import { Long, type tl } from '@mtcute/node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../core/errors.js';
import { type FetchScope, type Lookup, type LookupCalls, Runtime } from '../../core/lookup.js';
import { RequestContext } from '../../request/context.js';
import { bindTelegramLookups, telegramUserByUsername, telegramUsers, telegramUsersByUsername } from './batch.js';
import type { TelegramClient } from './client.js';
import { TELEGRAM } from './id.js';
import type { TelegramApiUser } from './wire.js';

/** The lookup's calls with `client`, bound as the provider binds them in a runtime of their own. */
function callsOf<R>(lookup: Lookup<R>, client: TelegramClient): LookupCalls<R> {
  const runtime = new Runtime();
  bindTelegramLookups(client, runtime);
  return lookup.in(runtime)!;
}

/**
 * Telegram's lookups against a stub client: how ids become InputUsers and one `users.getUsers`, what
 * happens when Telegram refuses a guessed access hash, and how a username reaches the id batch.
 */

const logger = pino({ level: 'silent' });
const HASH = Long.fromInt(0x5eed);

const user = (id: number): TelegramApiUser => ({ _: 'user', id, firstName: `User ${id}` });

interface Stub {
  client: TelegramClient;
  /** Every `getUsers` call, as the user ids it named. */
  getUsers: number[][];
  inputUser: number[];
  resolveUsername: string[];
  cachedIdForUsername: string[];
}

/**
 * A client whose peer cache knows `known` (by access hash), which guesses hash 0 for `guessed` (a bot),
 * and knows no way to name anyone else (a user account). `answer` plays Telegram's `users.getUsers`.
 */
function stub(options: {
  known?: number[];
  guessed?: number[];
  answer?: (inputs: tl.TypeInputUser[], call: number) => tl.TypeUser[];
  usernames?: Record<string, number>;
  resolve?: (username: string) => TelegramApiUser | undefined;
  maxIdsPerCall?: number;
}): Stub {
  const known = new Set(options.known ?? []);
  const guessed = new Set(options.guessed ?? []);
  const calls: Omit<Stub, 'client'> = { getUsers: [], inputUser: [], resolveUsername: [], cachedIdForUsername: [] };
  const client = {
    maxIdsPerCall: options.maxIdsPerCall ?? 100,
    async inputUser(id: number): Promise<tl.TypeInputUser | undefined> {
      calls.inputUser.push(id);
      if (known.has(id)) return { _: 'inputUser', userId: id, accessHash: HASH };
      if (guessed.has(id)) return { _: 'inputUser', userId: id, accessHash: Long.ZERO };
      return undefined;
    },
    async getUsers(inputs: readonly tl.TypeInputUser[]): Promise<tl.TypeUser[]> {
      calls.getUsers.push(inputs.map((input) => (input._ === 'inputUser' ? input.userId : -1)));
      const answer = options.answer ?? ((named) => named.flatMap((input) => (input._ === 'inputUser' ? [user(input.userId)] : [])));
      return answer([...inputs], calls.getUsers.length);
    },
    async cachedIdForUsername(username: string): Promise<number | undefined> {
      calls.cachedIdForUsername.push(username);
      return options.usernames?.[username];
    },
    async resolveUsername(username: string): Promise<TelegramApiUser | undefined> {
      calls.resolveUsername.push(username);
      return options.resolve?.(username);
    },
  };
  return { client: client as unknown as TelegramClient, ...calls };
}

const scope: FetchScope = { partition: '', fields: [], logger, signal: new AbortController().signal, prime: () => {} };

function asError(value: unknown): ProviderError {
  expect(value).toBeInstanceOf(ProviderError);
  return value as ProviderError;
}

/** PEER_ID_INVALID as the client reports it: a final BAD_USER_INPUT for the whole call. */
const peerIdInvalid = () => new ProviderError({ code: 'BAD_USER_INPUT', provider: TELEGRAM });

describe('telegramUsers: keys and fields', () => {
  it('takes positive integer ids up to 2^53-1', () => {
    const { key } = telegramUsers;
    for (const ok of ['1', '777', '1000000001', String(Number.MAX_SAFE_INTEGER)]) expect(key.isValid(ok), ok).toBe(true);
    for (const bad of ['', '0', '01', '-1', '1.5', 'abc', String(Number.MAX_SAFE_INTEGER + 1), '99999999999999999']) {
      expect(key.isValid(bad), bad).toBe(false);
    }
    expect(key.expected).toBe('a Telegram user id (a positive integer up to 2^53-1)');
  });

  it('takes usernames of 4-32 letters, digits or _, starting with a letter, with or without @', () => {
    const { key } = telegramUsersByUsername;
    for (const ok of ['durov', '@durov', 'abcd', 'Tg_User5', `a${'b'.repeat(31)}`]) expect(key.isValid(ok), ok).toBe(true);
    for (const bad of ['', 'abc', '5user', '_user', 'us-er', `a${'b'.repeat(32)}`, '@@durov']) expect(key.isValid(bad), bad).toBe(false);
  });

  it('batches up to the client’s ids per call, and has no field selection', () => {
    expect(callsOf(telegramUsers, stub({ maxIdsPerCall: 37 }).client).maxBatchSize).toBe(37);
    expect(telegramUsers.fields(new Set(['TelegramUser.firstName', 'TelegramUser.status']))).toEqual([]);
    expect(telegramUsers.fields(undefined)).toEqual([]);
  });
});

describe('telegramUsers.fetch', () => {
  it('names every id by its cached InputUser in one getUsers, and keys the answer by id, whatever its order', async () => {
    const s = stub({ known: [1, 2, 3], answer: (inputs) => inputs.map((i) => user((i as tl.RawInputUser).userId)).reverse() });
    const found = await callsOf(telegramUsers, s.client).fetch(['1', '2', '3'], scope);
    expect(s.getUsers).toEqual([[1, 2, 3]]);
    expect(s.inputUser.sort()).toEqual([1, 2, 3]);
    expect([...found.keys()].sort()).toEqual(['1', '2', '3']);
    expect(found.get('2')).toEqual(user(2));
  });

  it('answers a userEmpty with NOT_FOUND and leaves an omitted user out (NOT_FOUND by default)', async () => {
    const s = stub({ known: [1, 2, 3], answer: () => [user(1), { _: 'userEmpty', id: 2 }] });
    const found = await callsOf(telegramUsers, s.client).fetch(['1', '2', '3'], scope);
    expect(asError(found.get('2'))).toMatchObject({ code: 'NOT_FOUND', id: '2' });
    expect(found.has('3')).toBe(false);
  });

  it('files each user under the id it carries; users of ids nobody asked make the omitted ones UPSTREAM_UNAVAILABLE', async () => {
    const s = stub({ known: [1, 2, 3], answer: () => [user(1), user(77)] });
    const found = await callsOf(telegramUsers, s.client).fetch(['1', '2', '3'], scope);
    expect(found.get('1')).toEqual(user(1));
    expect(found.has('77')).toBe(false);
    expect(asError(found.get('2'))).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', id: '2' });
    expect(asError(found.get('3'))).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', id: '3' });
  });

  it('does not send an id this account cannot name, and says why', async () => {
    const s = stub({ known: [1] });
    const found = await callsOf(telegramUsers, s.client).fetch(['1', '2'], scope);
    expect(s.getUsers).toEqual([[1]]);
    const unseen = asError(found.get('2'));
    expect(unseen).toMatchObject({ code: 'NOT_FOUND', id: '2', provider: TELEGRAM });
    expect(unseen.message).toMatch(/^Telegram user 2: this account has never seen this user/);
  });

  it('makes no call at all when no id can be named', async () => {
    const s = stub({});
    const found = await callsOf(telegramUsers, s.client).fetch(['4', '5'], scope);
    expect(s.getUsers).toEqual([]);
    expect([...found.keys()]).toEqual(['4', '5']);
  });

  it('a guessed id Telegram leaves out is NOT_FOUND with a message saying it may be unseen', async () => {
    const s = stub({ known: [1], guessed: [2], answer: () => [user(1)] });
    const found = await callsOf(telegramUsers, s.client).fetch(['1', '2'], scope);
    expect(s.getUsers).toEqual([[1, 2]]);
    expect(asError(found.get('2')).message).toBe(
      'Telegram returned no user 2: it does not exist, or this bot has never seen it and Telegram will not show it',
    );
  });

  it('after PEER_ID_INVALID, asks once more without the guessed ids, which are NOT_FOUND', async () => {
    const s = stub({
      known: [1, 3],
      guessed: [2, 4],
      answer: (inputs, call) => {
        if (call === 1) throw peerIdInvalid();
        return inputs.map((i) => user((i as tl.RawInputUser).userId));
      },
    });
    const found = await callsOf(telegramUsers, s.client).fetch(['1', '2', '3', '4'], scope);
    expect(s.getUsers).toHaveLength(2);
    expect([...s.getUsers[0]!].sort()).toEqual([1, 2, 3, 4]);
    expect([...s.getUsers[1]!].sort()).toEqual([1, 3]);
    expect(found.get('1')).toEqual(user(1));
    expect(found.get('3')).toEqual(user(3));
    for (const id of ['2', '4']) {
      expect(asError(found.get(id))).toMatchObject({ code: 'NOT_FOUND', id });
      expect(asError(found.get(id)).message).toMatch(/^Telegram returned no user/);
    }
  });

  it('after PEER_ID_INVALID with only guessed ids, asks nothing more', async () => {
    const s = stub({
      guessed: [2],
      answer: () => {
        throw peerIdInvalid();
      },
    });
    const found = await callsOf(telegramUsers, s.client).fetch(['2'], scope);
    expect(s.getUsers).toEqual([[2]]);
    expect(asError(found.get('2'))).toMatchObject({ code: 'NOT_FOUND', id: '2' });
  });

  it('lets any other whole-call failure through, and a BAD_USER_INPUT when nothing was guessed', async () => {
    const limited = new ProviderError({ code: 'RATE_LIMITED', provider: TELEGRAM, retryAfter: 30 });
    const rateLimited = stub({
      known: [1],
      guessed: [2],
      answer: () => {
        throw limited;
      },
    });
    await expect(callsOf(telegramUsers, rateLimited.client).fetch(['1', '2'], scope)).rejects.toBe(limited);
    expect(rateLimited.getUsers).toHaveLength(1);

    const refused = peerIdInvalid();
    const noGuess = stub({
      known: [1],
      answer: () => {
        throw refused;
      },
    });
    await expect(callsOf(telegramUsers, noGuess.client).fetch(['1'], scope)).rejects.toBe(refused);
    expect(noGuess.getUsers).toHaveLength(1);
  });
});

describe('telegramUserByUsername', () => {
  const context = (client?: TelegramClient) => {
    const runtime = new Runtime();
    if (client !== undefined) bindTelegramLookups(client, runtime);
    return new RequestContext({ runtime: runtime, logger: logger });
  };

  it('refuses a malformed username before asking anything', async () => {
    const s = stub({});
    const error = await telegramUserByUsername(context(s.client), 'ab').catch((e: unknown) => e);
    expect(asError(error)).toMatchObject({ code: 'BAD_USER_INPUT', id: 'ab' });
    expect(s.cachedIdForUsername).toEqual([]);
    expect(s.resolveUsername).toEqual([]);
  });

  it('answers PROVIDER_NOT_CONFIGURED without a client', async () => {
    const error = await telegramUserByUsername(context(), 'durov').catch((e: unknown) => e);
    expect(asError(error)).toMatchObject({ code: 'PROVIDER_NOT_CONFIGURED', id: 'durov' });
  });

  it('a name the peer cache knows joins the id batch of the same tick: one getUsers, no resolution', async () => {
    const s = stub({ known: [5, 6, 7], usernames: { tg_user6: 6, tg_user7: 7 } });
    const ctx = context(s.client);
    const [byId, byName, byAt] = await Promise.all([
      ctx.load(telegramUsers, '5'),
      telegramUserByUsername(ctx, 'TG_User6'),
      telegramUserByUsername(ctx, '@tg_user7'),
    ]);
    expect([byId.id, byName.id, byAt.id]).toEqual([5, 6, 7]);
    expect(s.cachedIdForUsername.sort()).toEqual(['tg_user6', 'tg_user7']);
    expect(s.getUsers.map((ids) => [...ids].sort())).toEqual([[5, 6, 7]]);
    expect(s.resolveUsername).toEqual([]);
  });

  it('resolves an unknown name once per request, however it is spelled, and primes the id lookup with the user', async () => {
    const s = stub({ known: [8], resolve: (name) => (name === 'newcomer' ? user(9) : undefined) });
    const ctx = context(s.client);
    const [a, b] = await Promise.all([telegramUserByUsername(ctx, 'Newcomer'), telegramUserByUsername(ctx, '@newcomer')]);
    expect(a).toBe(b);
    expect(a.id).toBe(9);
    expect(s.resolveUsername).toEqual(['newcomer']);
    expect(await ctx.load(telegramUsers, '9')).toBe(a); // primed: no getUsers
    expect(s.getUsers).toEqual([]);
  });

  it('a name nobody has is NOT_FOUND, naming it as asked', async () => {
    const s = stub({});
    const error = asError(await telegramUserByUsername(context(s.client), 'Nobody_Here').catch((e: unknown) => e));
    expect(error).toMatchObject({ code: 'NOT_FOUND', id: 'Nobody_Here', provider: TELEGRAM });
    expect(error.message).toBe('Telegram has no user named "Nobody_Here"');
    expect(s.resolveUsername).toEqual(['nobody_here']);
  });
});
