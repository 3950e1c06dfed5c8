import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../core/errors.js';
import { type FetchScope, type Lookup, type LookupCalls, Runtime } from '../../core/lookup.js';
import { RequestContext } from '../../request/context.js';
import { bindBitrix24, bitrix24Portal, bitrix24Users, loadBitrix24User } from './batch.js';
import type { Bitrix24Portal, Bitrix24Service, UserListOutcome } from './client.js';
import { BITRIX24 } from './id.js';
import type { BitrixApiUser } from './wire.js';

/** The lookup's calls with `client`, bound as the provider binds them in a runtime of their own. */
function callsOf<R>(lookup: Lookup<R>, client: Bitrix24Service): LookupCalls<R> {
  const runtime = new Runtime();
  bindBitrix24(client, runtime);
  return lookup.in(runtime)!;
}

/**
 * Bitrix24's lookup against stub portals: one `im.user.list.get` for a chunk, one `batch` for
 * several, each command's `result_error` at the ids it carried, and how a portal is chosen.
 */

const logger = pino({ level: 'silent' });

const apiUser = (id: number): BitrixApiUser => ({ id, name: `User ${id}`, active: true });

type Call = { method: 'userList'; ids: number[]; avatarHr: boolean } | { method: 'batchUserLists'; chunks: number[][]; avatarHr: boolean };

/**
 * A portal that knows users `1..known`, fails the batch commands whose ids include a key of `failing`
 * with that error, and records every call. `whole` makes every call throw it instead.
 */
function stubPortal(
  name: string,
  options: {
    known?: number;
    failing?: Record<number, string>;
    whole?: Error;
    users?: (ids: readonly number[]) => Record<string, ReturnType<typeof apiUser> | null>;
  } = {},
) {
  const calls: Call[] = [];
  const known = options.known ?? 1_000;
  const usersOf =
    options.users ?? ((ids: readonly number[]) => Object.fromEntries(ids.map((id) => [String(id), id <= known ? apiUser(id) : null])));
  const portal = {
    name,
    async userList(ids: readonly number[], avatarHr: boolean): Promise<UserListOutcome> {
      calls.push({ method: 'userList', ids: [...ids], avatarHr });
      if (options.whole) throw options.whole;
      return { users: usersOf(ids) };
    },
    async batchUserLists(chunks: readonly (readonly number[])[], avatarHr: boolean): Promise<UserListOutcome[]> {
      calls.push({ method: 'batchUserLists', chunks: chunks.map((c) => [...c]), avatarHr });
      if (options.whole) throw options.whole;
      return chunks.map((ids) => {
        const failure = ids.map((id) => options.failing?.[id]).find((f) => f !== undefined);
        return failure === undefined ? { users: usersOf(ids) } : { error: { error: failure, error_description: 'emulated' } };
      });
    },
  };
  return { portal: portal as unknown as Bitrix24Portal, calls };
}

function stubService(portals: Bitrix24Portal[], maxIdsPerCall = 50): Bitrix24Service {
  return { maxIdsPerCall, portals: new Map(portals.map((p) => [p.name, p])) } as unknown as Bitrix24Service;
}

const scope = (partition: string, fields: readonly string[] = []): FetchScope => ({
  partition,
  fields,
  logger,
  signal: new AbortController().signal,
  prime: () => {},
});

function asError(value: unknown): ProviderError {
  expect(value).toBeInstanceOf(ProviderError);
  return value as ProviderError;
}

describe('bitrix24Users: keys, batch size and fields', () => {
  it('takes positive 32-bit integer ids', () => {
    const { key } = bitrix24Users;
    for (const ok of ['1', '42', '2147483647']) expect(key.isValid(ok), ok).toBe(true);
    for (const bad of ['', '0', '01', '-1', '1.0', 'abc', '2147483648', '9999999999', '12345678901'])
      expect(key.isValid(bad), bad).toBe(false);
    expect(key.expected).toBe('a Bitrix24 user id (a positive integer up to 2147483647)');
  });

  it('batches as many ids as 50 commands carry', () => {
    expect(callsOf(bitrix24Users, stubService([], 50)).maxBatchSize).toBe(2_500);
    expect(callsOf(bitrix24Users, stubService([], 7)).maxBatchSize).toBe(350);
  });

  it('asks AVATAR_HR only when avatarHr is selected (or nothing is known of the selection)', () => {
    expect(bitrix24Users.fields(new Set(['Bitrix24User.name', 'Bitrix24User.avatar']))).toEqual([]);
    expect(bitrix24Users.fields(new Set(['Bitrix24User.name', 'Bitrix24User.avatarHr']))).toEqual(['AVATAR_HR']);
    expect(bitrix24Users.fields(undefined)).toEqual(['AVATAR_HR']);
  });
});

describe('bitrix24Users.fetch', () => {
  it('sends one chunk as one im.user.list.get, and keys users by id with their portal', async () => {
    const a = stubPortal('a.example', { known: 2 });
    const found = await callsOf(bitrix24Users, stubService([a.portal])).fetch(['2', '1', '3'], scope('a.example', ['AVATAR_HR']));
    expect(a.calls).toEqual([{ method: 'userList', ids: [2, 1, 3], avatarHr: true }]);
    expect(found.get('1')).toEqual({ portal: 'a.example', user: apiUser(1) });
    expect(found.get('2')).toEqual({ portal: 'a.example', user: apiUser(2) });
    expect(found.get('3')).toMatchObject({ code: 'NOT_FOUND', id: '3' }); // null: the portal's "unknown id"
  });

  it('files each record under the id it carries, never the key it sat at: {"6": {id: 7}, "7": {id: 8}} answers user 7 as 7, and 6 not at all', async () => {
    const a = stubPortal('a.example', { users: () => ({ '6': apiUser(7), '7': apiUser(8) }) });
    const found = await callsOf(bitrix24Users, stubService([a.portal])).fetch(['6', '7'], scope('a.example'));
    expect(found.get('7')).toEqual({ portal: 'a.example', user: apiUser(7) });
    expect(found.get('6')).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', id: '6' });
    expect(found.has('8')).toBe(false);
  });

  it('an asked id the portal left out of its answer is UPSTREAM_UNAVAILABLE, not NOT_FOUND (Bitrix24 maps every id asked)', async () => {
    const a = stubPortal('a.example', { users: () => ({ '1': apiUser(1) }) });
    const found = await callsOf(bitrix24Users, stubService([a.portal])).fetch(['1', '2'], scope('a.example'));
    expect(found.get('2')).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', id: '2' });
  });

  it('sends several chunks as one batch request of maxIdsPerCall ids per command', async () => {
    const a = stubPortal('a.example');
    const ids = ['1', '2', '3', '4', '5'];
    const found = await callsOf(bitrix24Users, stubService([a.portal], 2)).fetch(ids, scope('a.example'));
    expect(a.calls).toEqual([{ method: 'batchUserLists', chunks: [[1, 2], [3, 4], [5]], avatarHr: false }]);
    expect([...found.keys()].sort()).toEqual(ids);
  });

  it('answers each id of a command that failed with that command’s error, and the other commands stand', async () => {
    const a = stubPortal('a.example', { failing: { 4: 'QUERY_LIMIT_EXCEEDED', 8: 'ACCESS_DENIED', 10: 'SOMETHING_ELSE' } });
    const ids = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'];
    const found = await callsOf(bitrix24Users, stubService([a.portal], 3)).fetch(ids, scope('a.example'));
    expect(a.calls).toEqual([{ method: 'batchUserLists', chunks: [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10]], avatarHr: false }]);
    for (const id of ['1', '2', '3']) expect(found.get(id)).toEqual({ portal: 'a.example', user: apiUser(Number(id)) });
    for (const [id, code] of [
      ['4', 'RATE_LIMITED'],
      ['5', 'RATE_LIMITED'],
      ['6', 'RATE_LIMITED'],
      ['7', 'UNAUTHENTICATED'],
      ['8', 'UNAUTHENTICATED'],
      ['9', 'UNAUTHENTICATED'],
      ['10', 'UPSTREAM_UNAVAILABLE'],
    ] as const) {
      expect(asError(found.get(id))).toMatchObject({ code, id, provider: BITRIX24 });
    }
  });

  it('lets a whole-call failure through', async () => {
    const failure = new ProviderError({ code: 'UNAUTHENTICATED', provider: BITRIX24 });
    const a = stubPortal('a.example', { whole: failure });
    await expect(callsOf(bitrix24Users, stubService([a.portal])).fetch(['1'], scope('a.example'))).rejects.toBe(failure);
  });

  it('refuses a partition that names no portal', async () => {
    const a = stubPortal('a.example');
    const error = await (async () => callsOf(bitrix24Users, stubService([a.portal])).fetch(['1'], scope('b.example')))().catch(
      (e: unknown) => e,
    );
    expect(asError(error).code).toBe('BAD_USER_INPUT');
    expect(a.calls).toEqual([]);
  });
});

describe('bitrix24Portal', () => {
  const context = (portals?: Bitrix24Portal[]) => {
    const runtime = new Runtime();
    if (portals !== undefined) bindBitrix24(stubService(portals), runtime);
    return new RequestContext({ runtime: runtime, logger: logger });
  };

  it('answers PROVIDER_NOT_CONFIGURED without a service', () => {
    expect(asError(bitrix24Portal(context(), 'a.example')).code).toBe('PROVIDER_NOT_CONFIGURED');
  });

  it('takes the only portal when none is named, and a configured one by name', () => {
    const a = stubPortal('a.example').portal;
    expect(bitrix24Portal(context([a]), undefined)).toBe('a.example');
    expect(bitrix24Portal(context([a]), null)).toBe('a.example');
    const b = stubPortal('b.example').portal;
    expect(bitrix24Portal(context([a, b]), 'b.example')).toBe('b.example');
  });

  it('refuses no name when there are several portals', () => {
    const error = asError(bitrix24Portal(context([stubPortal('a.example').portal, stubPortal('b.example').portal]), undefined));
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.message).toBe('Several Bitrix24 portals are configured: name one with the `portal` argument');
  });

  it('refuses an unknown name without listing the configured ones, and echoes at most 100 characters of it', () => {
    const ctx = context([stubPortal('secret-portal.example').portal]);
    const error = asError(bitrix24Portal(ctx, 'other.example'));
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.message).toBe('No Bitrix24 portal named "other.example" is configured');
    expect(error.message).not.toContain('secret-portal');
    expect(asError(bitrix24Portal(ctx, 'y'.repeat(500))).message).toBe(`No Bitrix24 portal named "${'y'.repeat(100)}" is configured`);
  });
});

/** A request of a runtime where Bitrix24 runs with `service`. */
function contextWith(service: Bitrix24Service): RequestContext {
  const runtime = new Runtime();
  bindBitrix24(service, runtime);
  return new RequestContext({ runtime: runtime, logger: logger });
}

describe('loadBitrix24User', () => {
  it('loads through each portal’s own loader: one call per portal for a tick', async () => {
    const a = stubPortal('a.example');
    const b = stubPortal('b.example');
    const ctx = contextWith(stubService([a.portal, b.portal]));
    const users = await Promise.all([
      loadBitrix24User(ctx, '1', 'a.example'),
      loadBitrix24User(ctx, '2', 'b.example'),
      loadBitrix24User(ctx, '3', 'a.example'),
      loadBitrix24User(ctx, '1', 'b.example'),
    ]);
    expect(users.map((u) => [u.portal, u.user.id])).toEqual([
      ['a.example', 1],
      ['b.example', 2],
      ['a.example', 3],
      ['b.example', 1],
    ]);
    expect(a.calls).toEqual([{ method: 'userList', ids: [1, 3], avatarHr: true }]);
    expect(b.calls).toEqual([{ method: 'userList', ids: [2, 1], avatarHr: true }]);
  });

  it('refuses a portal that is not a string, or that is unknown, at the id, sending nothing', async () => {
    const a = stubPortal('a.example');
    const ctx = contextWith(stubService([a.portal]));
    const notText = asError(await loadBitrix24User(ctx, '1', 42).catch((e: unknown) => e));
    expect(notText).toMatchObject({ code: 'BAD_USER_INPUT', id: '1', message: 'A Bitrix24 portal is named by a string' });
    const unknown = asError(await loadBitrix24User(ctx, 5, 'z.example').catch((e: unknown) => e));
    expect(unknown).toMatchObject({ code: 'BAD_USER_INPUT', id: '5', message: 'No Bitrix24 portal named "z.example" is configured' });
    expect(a.calls).toEqual([]);
  });

  it('refuses a malformed id before any call', async () => {
    const a = stubPortal('a.example');
    const ctx = contextWith(stubService([a.portal]));
    const error = asError(await loadBitrix24User(ctx, '0', 'a.example').catch((e: unknown) => e));
    expect(error).toMatchObject({ code: 'BAD_USER_INPUT', id: '0' });
    expect(a.calls).toEqual([]);
  });
});
