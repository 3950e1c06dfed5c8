import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { IncompleteRecord, ProviderError } from '../../core/errors.js';
import { type FetchScope, type Lookup, type LookupCalls, Runtime } from '../../core/lookup.js';
import { bindNexudusLookups, FULL, FULL_RECORD_FIELDS, nexudusUsers } from './batch.js';
import type { NexudusClient } from './client.js';
import { NEXUDUS } from './id.js';
import type { NexudusUserRecord } from './wire.js';

/** The lookup's calls with `client`, bound as the provider binds them in a runtime of their own. */
function callsOf<R>(lookup: Lookup<R>, client: NexudusClient): LookupCalls<R> {
  const runtime = new Runtime();
  bindNexudusLookups(client, runtime);
  return lookup.in(runtime)!;
}

/**
 * Nexudus's lookup against a stub client: the list call for partial records, or one single-record
 * call per id when a full-record field is selected, never both, and failures at the ids they concern.
 */

const logger = pino({ level: 'silent' });

const record = (id: number, full = false): NexudusUserRecord => ({ Id: id, FullName: `User ${id}`, ...(full ? { IsAdmin: false } : {}) });

/** A client that knows users `1..known`; `one` fails for the ids in `failing` with what is given. */
function stub(options: {
  known?: number;
  failing?: Record<number, unknown>;
  listFails?: Error;
  /** What the list call answers instead of the records of the ids asked (a lying upstream). */
  listAnswer?: (ids: readonly number[]) => NexudusUserRecord[];
  concurrency?: number;
  maxIdsPerCall?: number;
}) {
  const known = options.known ?? 1_000;
  const calls = { list: [] as number[][], one: [] as number[] };
  let inFlight = 0;
  let mostInFlight = 0;
  const client = {
    maxIdsPerCall: options.maxIdsPerCall ?? 100,
    fullRecordConcurrency: options.concurrency ?? 4,
    async partialUsers(ids: readonly number[]): Promise<NexudusUserRecord[]> {
      calls.list.push([...ids]);
      if (options.listFails) throw options.listFails;
      if (options.listAnswer) return options.listAnswer(ids);
      return ids.filter((id) => id <= known).map((id) => record(id));
    },
    async fullUser(id: number): Promise<NexudusUserRecord | undefined> {
      calls.one.push(id);
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      // Let the others start, as a real request would.
      await new Promise<void>((resolve) => setImmediate(resolve));
      inFlight--;
      if (options.failing?.[id] !== undefined) throw options.failing[id];
      return id <= known ? record(id, true) : undefined;
    },
  };
  return { client: client as unknown as NexudusClient, calls, mostInFlight: () => mostInFlight };
}

const scope = (fields: readonly string[]): FetchScope => ({
  partition: '',
  fields,
  logger,
  signal: new AbortController().signal,
  prime: () => {},
});

function asError(value: unknown): ProviderError {
  expect(value).toBeInstanceOf(ProviderError);
  return value as ProviderError;
}

describe('nexudusUsers: keys, batch size and fields', () => {
  it('takes canonical positive integer ids of up to 12 digits', () => {
    const { key } = nexudusUsers;
    for (const ok of ['1', '1234', '999999999999']) expect(key.isValid(ok), ok).toBe(true);
    for (const bad of ['', '0', '007', '-1', '1.0', ' 1', 'abc', '1000000000000']) expect(key.isValid(bad), bad).toBe(false);
    expect(key.expected).toBe('a Nexudus user id (a positive integer)');
  });

  it('batches the client’s ids per list call', () => {
    expect(callsOf(nexudusUsers, stub({ maxIdsPerCall: 40 }).client).maxBatchSize).toBe(40);
  });

  it('needs full records exactly when a field the list call leaves empty is selected', () => {
    expect(nexudusUsers.fields(new Set(['NexudusUser.id', 'NexudusUser.fullName', 'NexudusUser.email']))).toEqual([]);
    for (const field of FULL_RECORD_FIELDS) {
      expect(nexudusUsers.fields(new Set(['NexudusUser.id', `NexudusUser.${field}`])), field).toEqual([FULL]);
    }
    expect(nexudusUsers.fields(undefined)).toEqual([FULL]);
  });
});

describe('nexudusUsers.fetch: partial records', () => {
  it('makes one list call for the ids, and keys records by id; unknown ids are absent', async () => {
    const s = stub({ known: 10 });
    const found = await callsOf(nexudusUsers, s.client).fetch(['3', '11', '1'], scope([]));
    expect(s.calls).toEqual({ list: [[3, 11, 1]], one: [] });
    expect(found.get('3')).toEqual(record(3));
    expect(found.get('1')).toEqual(record(1));
    expect(found.has('11')).toBe(false);
  });

  it('lets a whole-call failure through', async () => {
    const failure = new ProviderError({ code: 'RATE_LIMITED', provider: NEXUDUS, retryAfter: 1 });
    const s = stub({ listFails: failure });
    await expect(callsOf(nexudusUsers, s.client).fetch(['1'], scope([]))).rejects.toBe(failure);
  });
});

describe('nexudusUsers.fetch: full records', () => {
  it('makes one single-record call per id and no list call', async () => {
    const s = stub({ known: 10 });
    const found = await callsOf(nexudusUsers, s.client).fetch(['2', '12', '5'], scope([FULL]));
    expect(s.calls.list).toEqual([]);
    expect([...s.calls.one].sort((a, b) => a - b)).toEqual([2, 5, 12]);
    expect(found.get('2')).toEqual(record(2, true));
    expect(found.get('5')).toEqual(record(5, true));
    expect(found.has('12')).toBe(false); // 404: NOT_FOUND by default
  });

  it('keeps at most fullRecordConcurrency calls in flight', async () => {
    const s = stub({ concurrency: 3 });
    const ids = Array.from({ length: 10 }, (_, i) => String(i + 1));
    const found = await callsOf(nexudusUsers, s.client).fetch(ids, scope([FULL]));
    expect(found.size).toBe(10);
    expect(s.calls.one).toHaveLength(10);
    expect(s.mostInFlight()).toBe(3);
  });

  it('fails only the id whose call failed: its own code, or UPSTREAM_UNAVAILABLE for anything else', async () => {
    const s = stub({
      failing: {
        2: new ProviderError({ code: 'RATE_LIMITED', provider: NEXUDUS, retryAfter: 1 }),
        3: new TypeError('bug'),
      },
    });
    const found = await callsOf(nexudusUsers, s.client).fetch(['1', '2', '3', '4'], scope([FULL]));
    expect(found.get('1')).toEqual(record(1, true));
    expect(found.get('4')).toEqual(record(4, true));
    expect(asError(found.get('2'))).toMatchObject({ code: 'RATE_LIMITED', id: '2', retryAfter: 1, provider: NEXUDUS });
    expect(asError(found.get('3'))).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', id: '3', provider: NEXUDUS });
  });

  it('a full record the upstream could not give answers its list record, as an incomplete record: one list call, on failure only', async () => {
    const s = stub({
      failing: {
        2: new ProviderError({ code: 'RATE_LIMITED', provider: NEXUDUS, retryAfter: 1 }),
        3: new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider: NEXUDUS }),
        4: new ProviderError({ code: 'UNAUTHENTICATED', provider: NEXUDUS }),
      },
    });
    const found = await callsOf(nexudusUsers, s.client).fetch(['1', '2', '3', '4'], scope([FULL]));
    expect(found.get('1')).toEqual(record(1, true));
    // Not for a refused credential: that is no outage, and the list call would be refused alike.
    expect(s.calls.list).toEqual([[2, 3]]);
    for (const [id, code] of [
      ['2', 'RATE_LIMITED'],
      ['3', 'UPSTREAM_UNAVAILABLE'],
    ] as const) {
      const incomplete = found.get(id);
      expect(incomplete).toBeInstanceOf(IncompleteRecord);
      expect(incomplete).toMatchObject({ code, id, record: record(Number(id)), fields: [] });
    }
    expect(asError(found.get('4'))).not.toBeInstanceOf(IncompleteRecord);
    // Everything answered: no list call.
    const healthy = stub({});
    await callsOf(nexudusUsers, healthy.client).fetch(['1', '2'], scope([FULL]));
    expect(healthy.calls.list).toEqual([]);
  });

  it('files a list record under the id it carries, and only for an id whose full record failed', async () => {
    const failing = { 2: new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider: NEXUDUS }) };
    // A lying list call: user 1's record (whose full record came), and user 7's (never asked), for id 2.
    const s = stub({ failing, listAnswer: () => [record(1), record(7)] });
    const found = await callsOf(nexudusUsers, s.client).fetch(['1', '2'], scope([FULL]));
    expect(found.get('1')).toEqual(record(1, true));
    expect(found.get('2')).not.toBeInstanceOf(IncompleteRecord);
    expect(asError(found.get('2'))).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', id: '2' });
    expect(found.has('7')).toBe(false);
    // A list call that fails too leaves the full record's failure.
    const down = stub({ failing, listFails: new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider: NEXUDUS }) });
    expect(asError((await callsOf(nexudusUsers, down.client).fetch(['2'], scope([FULL]))).get('2'))).not.toBeInstanceOf(IncompleteRecord);
  });
});
