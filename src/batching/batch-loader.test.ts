import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../core/errors.js';
import type { ProviderId } from '../core/types.js';
import { type BatchLoaderOptions, createBatchLoader, type FetchBatch } from './batch-loader.js';

/** A made-up provider per test, so the process-global metrics of other tests do not interfere. */
let providerCounter = 0;
function freshProvider(): ProviderId {
  return { name: `acme-batch-${++providerCounter}`, label: 'Acme' };
}

interface Rec {
  key: string;
}

/** A fetch that records every call and answers each key it knows (`known`), in reverse order. */
function recordingFetch(known: (key: string) => boolean = () => true): FetchBatch<Rec> & { calls: string[][] } {
  const calls: string[][] = [];
  const fetch = async (keys: readonly string[]) => {
    calls.push([...keys]);
    // Built back to front: a loader that matched by position would hand out the wrong records.
    return new Map([...keys].reverse().flatMap((key): Array<[string, Rec]> => (known(key) ? [[key, { key }]] : [])));
  };
  return Object.assign(fetch, { calls });
}

function capture(): { logger: Logger; lines: () => Array<Record<string, unknown>> } {
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      raw.push(String(chunk));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

const silent = pino({ level: 'silent' });

function loader(options: Partial<BatchLoaderOptions<Rec>> & { fetch: FetchBatch<Rec> }) {
  return createBatchLoader<Rec>({ provider: freshProvider(), maxBatchSize: 100, logger: silent, ...options });
}

async function rejection(promise: Promise<unknown>): Promise<ProviderError> {
  const error: unknown = await promise.then(
    () => {
      throw new Error('expected the load to fail');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe('createBatchLoader: batching', () => {
  it('makes one fetch for every load of one tick, and another for a later tick', async () => {
    const fetch = recordingFetch();
    const l = loader({ fetch });
    const first = await Promise.all([l.load('1'), l.load('2'), l.load('3')]);
    expect(first).toEqual([{ key: '1' }, { key: '2' }, { key: '3' }]);
    expect(fetch.calls).toEqual([['1', '2', '3']]);

    await l.load('4');
    expect(fetch.calls).toEqual([['1', '2', '3'], ['4']]);
  });

  it('splits a tick of more than maxBatchSize distinct keys into fetches of at most that many', async () => {
    const fetch = recordingFetch();
    const l = loader({ fetch, maxBatchSize: 2 });
    const keys = ['1', '2', '3', '4', '5'];
    expect(await Promise.all(keys.map((key) => l.load(key)))).toEqual(keys.map((key) => ({ key })));
    expect(fetch.calls).toEqual([['1', '2'], ['3', '4'], ['5']]);
  });

  it('fetches a repeated key once, in the tick and afterwards', async () => {
    const fetch = recordingFetch();
    const l = loader({ fetch });
    const [a, b, c] = await Promise.all([l.load('7'), l.load('8'), l.load('7')]);
    expect(a).toBe(c);
    expect(b).toEqual({ key: '8' });
    expect(await l.load('7')).toBe(a);
    expect(fetch.calls).toEqual([['7', '8']]);
  });

  it('gives keys that normalize alike one entry: fetched once, under the first spelling, matched by the normalized key', async () => {
    const calls: string[][] = [];
    const l = loader({
      cacheKey: (key) => key.toLowerCase(),
      fetch: async (keys) => {
        calls.push([...keys]);
        // The provider keys its answer by the normalized key.
        return new Map(keys.map((key): [string, Rec] => [key.toLowerCase(), { key: key.toLowerCase() }]));
      },
    });
    const [a, b, c] = await Promise.all([l.load('Alice'), l.load('ALICE'), l.load('bob')]);
    expect(calls).toEqual([['Alice', 'bob']]);
    expect(a).toEqual({ key: 'alice' });
    expect(b).toBe(a);
    expect(c).toEqual({ key: 'bob' });
    expect(await l.load('aLiCe')).toBe(a);
    expect(calls).toHaveLength(1);
  });

  it('matches results to keys by key, whatever order the fetch answers in', async () => {
    const l = loader({
      fetch: async () =>
        new Map([
          ['3', { key: 'three' }],
          ['1', { key: 'one' }],
          ['2', { key: 'two' }],
        ]),
    });
    expect(await Promise.all([l.load('1'), l.load('2'), l.load('3')])).toEqual([{ key: 'one' }, { key: 'two' }, { key: 'three' }]);
  });
});

describe('createBatchLoader: failures', () => {
  it('answers a key missing from the result with NOT_FOUND for that key only', async () => {
    const provider = freshProvider();
    const l = loader({ provider, fetch: recordingFetch((key) => key !== '2') });
    const [one, two, three] = await Promise.allSettled([l.load('1'), l.load('2'), l.load('3')]);
    expect(one).toEqual({ status: 'fulfilled', value: { key: '1' } });
    expect(three).toEqual({ status: 'fulfilled', value: { key: '3' } });
    expect(two.status).toBe('rejected');
    const error = (two as PromiseRejectedResult).reason as ProviderError;
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.code).toBe('NOT_FOUND');
    expect(error.provider).toBe(provider);
    expect(error.id).toBe('2');
    expect(error.extensions).toMatchObject({ code: 'NOT_FOUND', provider: provider.name, id: '2' });
  });

  it("hands on a key's own ProviderError as is, the other keys unaffected", async () => {
    const provider = freshProvider();
    const suspended = new ProviderError({ code: 'SUSPENDED', provider, id: '2' });
    const l = loader({
      provider,
      fetch: async () =>
        new Map<string, Rec | ProviderError>([
          ['1', { key: '1' }],
          ['2', suspended],
        ]),
    });
    const [one, two] = await Promise.allSettled([l.load('1'), l.load('2')]);
    expect(one).toEqual({ status: 'fulfilled', value: { key: '1' } });
    expect((two as PromiseRejectedResult).reason).toBe(suspended);
  });

  it('reports a whole-call ProviderError at every key of the call, each about its own key', async () => {
    const provider = freshProvider();
    const l = loader({
      provider,
      fetch: async () => {
        throw new ProviderError({ code: 'RATE_LIMITED', provider, retryAfter: 7 });
      },
    });
    const [a, b] = await Promise.all([rejection(l.load('1')), rejection(l.load('2'))]);
    expect(a).not.toBe(b);
    for (const [error, id] of [
      [a, '1'],
      [b, '2'],
    ] as const) {
      expect(error.code).toBe('RATE_LIMITED');
      expect(error.id).toBe(id);
      expect(error.retryAfter).toBe(7);
      expect(error.extensions).toEqual({ code: 'RATE_LIMITED', provider: provider.name, id, retryAfter: 7 });
      expect(error.message).toBe(`Acme rate limit reached for "${id}"; retry in 7s`);
    }
  });

  it("keeps a whole-call error's own message when it fans out", async () => {
    const provider = freshProvider();
    const l = loader({
      provider,
      fetch: async () => {
        throw new ProviderError({ code: 'BAD_USER_INPUT', provider }, 'No such portal');
      },
    });
    const error = await rejection(l.load('5'));
    expect(error.message).toBe('No such portal');
    expect(error.id).toBe('5');
  });

  it('answers any other failure with UPSTREAM_UNAVAILABLE at every key, and logs it once as an error', async () => {
    const provider = freshProvider();
    const { logger, lines } = capture();
    const l = loader({
      provider,
      logger,
      fetch: async () => {
        throw new TypeError('a bug in the fetch');
      },
    });
    const [a, b] = await Promise.all([rejection(l.load('1')), rejection(l.load('2'))]);
    expect([a.code, a.id, b.code, b.id]).toEqual(['UPSTREAM_UNAVAILABLE', '1', 'UPSTREAM_UNAVAILABLE', '2']);
    expect(a.provider).toBe(provider);
    // The caller is told nothing of the failure's own text.
    expect(a.message).toBe('Acme is unavailable for "1"');

    const logged = lines();
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 50, provider: provider.name });
    expect(logged[0]!.msg).toMatch(/^batch function failed/);
    expect(JSON.stringify(logged[0]!.err)).toContain('TypeError');
  });

  it('does not log a ProviderError: it is an answer, not a fault', async () => {
    const provider = freshProvider();
    const { logger, lines } = capture();
    const l = loader({
      provider,
      logger,
      fetch: async () => {
        throw new ProviderError({ code: 'UNAUTHENTICATED', provider });
      },
    });
    expect((await rejection(l.load('1'))).code).toBe('UNAUTHENTICATED');
    expect(lines()).toEqual([]);
  });

  it('fails only the keys of the chunk that failed', async () => {
    const provider = freshProvider();
    const l = loader({
      provider,
      maxBatchSize: 2,
      fetch: async (keys) => {
        if (keys.includes('3')) throw new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider });
        return new Map(keys.map((key): [string, Rec] => [key, { key }]));
      },
    });
    const settled = await Promise.allSettled(['1', '2', '3', '4'].map((key) => l.load(key)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected']);
    expect(settled.slice(2).map((s) => ((s as PromiseRejectedResult).reason as ProviderError).id)).toEqual(['3', '4']);
  });
});
