import { afterEach, describe, expect, it } from 'vitest';
import { redisFallbacks, redisUp } from '../telemetry/metrics.js';
import { captureLogs } from '../testing/log-capture.js';
import { freePort, type OwnRedis, startOwnRedis } from '../testing/redis.js';
import { RedisLink, reconnectDelayMs, timed } from './link.js';

/**
 * The one Redis connection, against redis-servers of this test's own (never the shared one: it is
 * killed, paused and started again here), with a password in the URL that no log line may show.
 * Waits are on the link's own transitions (`waitUntil`) and the client's reconnect events.
 */

const PASSWORD = 'p4ss-w0rd-never-logged';

async function gauge(): Promise<number> {
  return (await redisUp.get()).values[0]!.value;
}

let own: OwnRedis | undefined;
let link: RedisLink | undefined;
let logs: ReturnType<typeof captureLogs>;

function open(
  url: string,
  options: { commandTimeoutMs?: number; probeIntervalMs?: number; now?: () => number; failoverWaitMs?: number } = {},
): RedisLink {
  logs = captureLogs('debug');
  link = new RedisLink({ url, prefix: 'test:link:', commandTimeoutMs: options.commandTimeoutMs ?? 500, logger: logs.logger, ...options });
  return link;
}

/** Messages of the captured log lines, in order. */
function messages(): string[] {
  return logs.entries().map((entry) => entry.msg as string);
}

/** Resolves after the client's `count`-th reconnect attempt from now. */
function reconnectAttempts(redis: RedisLink, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const onAttempt = () => {
      if (++seen < count) return;
      redis.client.off('reconnecting', onAttempt);
      resolve();
    };
    redis.client.on('reconnecting', onAttempt);
  });
}

afterEach(async () => {
  await link?.close();
  link = undefined;
  await own?.close();
  own = undefined;
  // No line ever carries the password, whatever happened.
  expect(logs.lines.join('\n')).not.toContain(PASSWORD);
});

describe('RedisLink', () => {
  it('says a loss once however many reconnects fail, sets the gauge 0/1, and comes back by itself', async () => {
    own = await startOwnRedis({ password: PASSWORD });
    const redis = open(own.url);
    expect(await redis.connect()).toBe(true);
    expect(redis.up).toBe(true);
    expect(await gauge()).toBe(1);
    expect(await redis.client.ping()).toBe('PONG'); // the password in the URL authenticated

    const attempts = reconnectAttempts(redis, 4);
    await own.kill();
    await redis.waitUntil(false);
    expect(await gauge()).toBe(0);
    await attempts; // four reconnects failed meanwhile
    expect(messages().filter((msg) => msg.startsWith('Redis unreachable'))).toHaveLength(1);
    await expect(redis.client.get('k')).rejects.toThrow(); // fails at once, never queued

    await own.restart();
    await redis.waitUntil(true);
    expect(await gauge()).toBe(1);
    expect(await redis.client.ping()).toBe('PONG');
    expect(messages().filter((msg) => msg.startsWith('Redis is back'))).toHaveLength(1);

    // A second loss is said again, once.
    await own.kill();
    await redis.waitUntil(false);
    expect(messages().filter((msg) => msg.startsWith('Redis unreachable'))).toHaveLength(2);
  });

  it('unreachable at start: says so once, serves without it, and connects when it appears', async () => {
    const port = await freePort();
    const redis = open(`redis://:${PASSWORD}@127.0.0.1:${port}`);
    const attempts = reconnectAttempts(redis, 3);
    expect(await redis.connect()).toBe(false);
    expect(redis.up).toBe(false);
    expect(await gauge()).toBe(0);
    await attempts;
    expect(messages()).toEqual(['Redis unreachable at start: serving from memory, retrying']);
    expect(logs.entries()[0]!.reason).toBe('ECONNREFUSED');

    own = await startOwnRedis({ password: PASSWORD, port });
    await redis.waitUntil(true);
    expect(await gauge()).toBe(1);
    expect(messages()).toEqual([
      'Redis unreachable at start: serving from memory, retrying',
      'Redis is back: shared cache, budgets and tokens in use again',
    ]);
  });

  it('a wrong password: not up, and neither password shows in any line', async () => {
    own = await startOwnRedis({ password: PASSWORD });
    const redis = open(own.url.replace(encodeURIComponent(PASSWORD), 'wrong-secret-also-hidden'));
    const attempts = reconnectAttempts(redis, 2);
    await redis.connect();
    await attempts;
    expect(redis.up).toBe(false);
    expect(await gauge()).toBe(0);
    expect(logs.lines.join('\n')).not.toContain('wrong-secret-also-hidden');
    expect(messages().filter((msg) => msg.startsWith('Redis unreachable'))).toHaveLength(1);
  });

  it('a Redis that hangs with the connection open: one timeout marks it lost, a PING brings it back', async () => {
    own = await startOwnRedis();
    const redis = open(own.url, { commandTimeoutMs: 100, probeIntervalMs: 50 });
    await redis.connect();
    own.pause();
    expect(
      await redis.orLocal(
        'record-cache',
        (client) => client.get('k'),
        () => 'memory',
      ),
    ).toBe('memory');
    const failure = await timed(redis.client.get('k'), 100).catch((error: unknown) => error);
    expect((failure as Error).message).toBe('Command timed out');
    expect(redis.up).toBe(false); // the next callers take their memory path without paying the timeout
    expect(await gauge()).toBe(0);
    redis.commandFailed(failure); // said once
    expect(messages()).toEqual([
      'Redis unreachable: serving from this process alone (its memory for cache, budgets and tokens) until it is back',
      "Redis failed a command: this use answers from this process's memory for now",
    ]);
    expect(logs.entries()[0]!.reason).toBe('ETIMEDOUT');

    own.resume();
    await redis.waitUntil(true);
    expect(await gauge()).toBe(1);
    expect(messages().at(-1)).toBe('Redis is back: shared cache, budgets and tokens in use again');
  });

  it('a process too busy to read an answer that came in time does not take Redis for hung (a burst of requests, issue 20)', async () => {
    own = await startOwnRedis();
    const redis = open(own.url, { commandTimeoutMs: 50 });
    await redis.connect();
    const answer = redis.orLocal(
      'record-cache',
      (client) => client.ping(),
      () => 'memory',
    );
    // The event loop is held far past the timeout while Redis answers on loopback: the answer waits in
    // the socket when the timer fires, and is read before the verdict.
    const until = performance.now() + 1_000;
    while (performance.now() < until) {
      // busy, as a burst of request parsing is
    }
    expect(await answer).toBe('PONG');
    expect(redis.up).toBe(true);
    expect(messages()).toEqual([]);
  });

  it('ignores failures that are not timeouts (a closed connection is seen by the link itself)', async () => {
    own = await startOwnRedis();
    const redis = open(own.url);
    await redis.connect();
    redis.commandFailed(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'));
    redis.commandFailed('not an error');
    expect(redis.up).toBe(true);
  });

  it('close: down, gauge 0, and no loss reported', async () => {
    own = await startOwnRedis();
    const redis = open(own.url);
    await redis.connect();
    await redis.close();
    link = undefined;
    expect(redis.up).toBe(false);
    expect(await gauge()).toBe(0);
    expect(messages()).toEqual([]);
  });

  it('builds keys under its prefix', () => {
    const redis = open('redis://127.0.0.1:1');
    expect(redis.key('cache', 'x')).toBe('test:link:cache:x');
    expect(redis.prefix).toBe('test:link:');
  });
});

/** `users_subgraph_redis_fallbacks_total{use}` by reason, now. */
async function fallbacks(use: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const v of (await redisFallbacks.get()).values) if (v.labels.use === use) counts[v.labels.reason as string] = v.value;
  return counts;
}

describe("RedisLink.orLocal: Redis, or this process's memory, decided in one place", () => {
  it('runs the command while Redis takes it, and the fallback while the link is down, counting why', async () => {
    own = await startOwnRedis();
    const redis = open(own.url);
    await redis.connect();
    const before = await fallbacks('rate-budget');
    expect(
      await redis.orLocal(
        'rate-budget',
        async (client) => client.ping(),
        () => 'memory',
      ),
    ).toBe('PONG');
    await own.kill();
    await redis.waitUntil(false);
    let tried = false;
    const answer = await redis.orLocal(
      'rate-budget',
      async () => {
        tried = true;
        return 'redis';
      },
      () => 'memory',
    );
    expect([answer, tried]).toEqual(['memory', false]);
    expect((await fallbacks('rate-budget')).down).toBe((before.down ?? 0) + 1);
  });

  it('with a failover wait, claims, windows and records wait for Redis to come back; other uses, and a longer outage, answer from memory', async () => {
    own = await startOwnRedis();
    let clock = 0;
    const redis = open(own.url, { failoverWaitMs: 3_000, now: () => clock });
    await redis.connect();
    await own.kill();
    await redis.waitUntil(false);
    // Pacing does not wait: its memory path lets no replica disagree with another.
    expect(
      await redis.orLocal(
        'pacing',
        async (client) => client.ping(),
        () => 'memory',
      ),
    ).toBe('memory');
    // A claim waits, and is answered by Redis once it is back (the outage is timed on the link's clock).
    const claim = redis.orLocal(
      'fetch-claims',
      async (client) => client.ping(),
      () => 'memory',
    );
    await own.restart();
    expect(await claim).toBe('PONG');
    expect(messages()).toContain('Redis failed a command: waiting out a failover before answering from memory');
    // An outage past the wait: answered from memory, at once, for every call until Redis answers again.
    await own.kill();
    await redis.waitUntil(false);
    const started = redis.orLocal(
      'record-cache',
      async (client) => client.ping(),
      () => 'memory',
    );
    clock += 3_001;
    expect(await started).toBe('memory');
    expect(
      await redis.orLocal(
        'rate-budget',
        async (client) => client.ping(),
        () => 'memory',
      ),
    ).toBe('memory');
  });

  it('a failing use backs off alone for REDIS_BACKOFF_MS, said once when it starts and once when Redis takes it again', async () => {
    own = await startOwnRedis();
    let now = 0;
    const redis = open(own.url, { now: () => now });
    await redis.connect();
    const refused = () =>
      redis.orLocal(
        'pacing',
        // A real error reply: a script that fails as Redis refuses a command (OOM, READONLY, ...).
        (client) => client.eval("return redis.error_reply('OOM command not allowed')", 0),
        () => 'memory',
      );
    const before = await fallbacks('pacing');
    expect(await refused()).toBe('memory');
    expect(redis.usable('pacing')).toBe(false);
    expect(redis.usable('tokens')).toBe(true); // the other uses are not held back
    let tried = 0;
    const counting = () =>
      redis.orLocal(
        'pacing',
        async (client) => {
          tried++;
          return client.ping();
        },
        () => 'memory',
      );
    expect(await counting()).toBe('memory');
    expect(tried).toBe(0);
    now += 1_000;
    expect(await counting()).toBe('PONG');
    expect(tried).toBe(1);
    const after = await fallbacks('pacing');
    expect([after.refused! - (before.refused ?? 0), after.backoff! - (before.backoff ?? 0)]).toEqual([1, 1]);
    expect(messages()).toEqual([
      "Redis failed a command: this use answers from this process's memory for now",
      'Redis takes this use again',
    ]);
    expect(logs.entries()[0]).toMatchObject({ use: 'pacing', reason: 'refused' });
  });

  it('a timeout marks Redis lost (until a PING answers); a fallback that throws is the answer', async () => {
    own = await startOwnRedis();
    const redis = open(own.url, { commandTimeoutMs: 200, probeIntervalMs: 50 });
    await redis.connect();
    own.pause();
    await expect(
      redis.orLocal(
        'tokens',
        (client) => client.get('x'),
        () => {
          throw new Error('no memory path');
        },
      ),
    ).rejects.toThrow('no memory path');
    expect(redis.up).toBe(false);
    own.resume();
    await redis.waitUntil(true);
    expect(redis.usable('tokens')).toBe(true); // a Redis that came back starts afresh
  });
});

describe('reconnecting', () => {
  it('tries one node again at most 2 s apart, a Cluster or Sentinel at most 200 ms apart', () => {
    const delays = (kind: 'node' | 'cluster' | 'sentinel') =>
      Array.from({ length: 10 }, (_, attempt) => reconnectDelayMs(kind, attempt + 1));
    expect(delays('node')).toEqual([100, 200, 400, 800, 1_600, 2_000, 2_000, 2_000, 2_000, 2_000]);
    // A failover is waited out for REDIS_FAILOVER_WAIT_MS (3 s): the attempt after the new master is named
    // must come well within it (at 2 s apart, a Sentinel failover's came past it and every id was fetched again).
    expect(delays('sentinel')).toEqual([100, 200, 200, 200, 200, 200, 200, 200, 200, 200]);
    expect(delays('cluster')).toEqual(delays('sentinel'));
  });

  /** `test` with a link to Sentinels that nobody answers (a free port), closed after. */
  async function withUnansweredSentinel(tls: boolean, test: (sentinel: RedisLink, logs: ReturnType<typeof captureLogs>) => Promise<void>) {
    const logs = captureLogs();
    const sentinel = new RedisLink({
      topology: { kind: 'sentinel', sentinels: [{ host: '127.0.0.1', port: await freePort() }], name: 'mymaster', tls },
      prefix: 'test:link:',
      commandTimeoutMs: 500,
      logger: logs.logger,
    });
    try {
      await test(sentinel, logs);
    } finally {
      await sentinel.close();
    }
  }

  /** The options ioredis's client was made with. */
  const optionsOf = (link: RedisLink) => (link.client as unknown as { options: Record<string, unknown> }).options;

  it('with REDIS_TLS, speaks TLS to the Sentinels as well as to the master (never the Sentinel password in plaintext)', async () => {
    await withUnansweredSentinel(true, async (sentinel) => {
      expect(optionsOf(sentinel).enableTLSForSentinelMode).toBe(true);
      expect(optionsOf(sentinel).sentinelTLS).toEqual({});
    });
  });

  it('starts without Redis when no Sentinel answers: the first attempt settles, it does not hang start-up', async () => {
    await withUnansweredSentinel(false, async (sentinel, logs) => {
      expect(await sentinel.connect()).toBe(false);
      expect(logs.entries().filter((line) => line.msg === 'Redis unreachable at start: serving from memory, retrying')).toHaveLength(1);
    });
  });

  it('gives the Sentinel client those delays, for the master and for the Sentinels themselves', async () => {
    await withUnansweredSentinel(false, async (sentinel) => {
      const options = optionsOf(sentinel) as Record<string, (attempt: number) => number>;
      expect(options.retryStrategy!(20)).toBe(200);
      expect(options.sentinelRetryStrategy!(20)).toBe(200);
    });
  });
});
