import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { X_TEST_TOKEN } from '../../src/providers/x/emulator/index.js';
import { startXEmulator, type XEmulator } from '../../src/providers/x/emulator/server.js';
import { keysUnder, uniquePrefix } from '../../src/testing/redis.js';
import { type OwnCluster, type OwnSentinel, startOwnCluster, startOwnSentinel } from '../../src/testing/redis-topologies.js';
import { type SubgraphProcess, startSubgraphProcess } from '../support/subgraph-process.js';

/**
 * Redis as users run it (docs/sharing.md): two subgraph processes share a real local Redis Cluster (three
 * masters, three replicas) or a Sentinel-managed master, in front of one X emulator that counts what it is
 * asked. What one replica fetched, the other answers without asking; and a master failed over under a
 * stream of requests fails none of them, and never lets X's window be overspent.
 */

const USERS = 'query ($ids: [ID!]!) { xUsers(ids: $ids) { id username name } }';

interface Topology {
  name: string;
  environment: Record<string, string>;
  /** A client of the topology for the test's own reads and clean-up. */
  admin(): Redis | Cluster;
  /** A real failover of the master (or of one master), under load. */
  failover(): Promise<void>;
  close(): Promise<void>;
}

async function clusterTopology(): Promise<Topology> {
  const cluster: OwnCluster = await startOwnCluster();
  return {
    name: 'Cluster',
    environment: cluster.environment,
    admin: () => new Cluster(cluster.startupNodes),
    failover: async () => {
      await cluster.failover();
    },
    close: () => cluster.close(),
  };
}

async function sentinelTopology(): Promise<Topology> {
  const sentinel: OwnSentinel = await startOwnSentinel();
  return {
    name: 'Sentinel',
    environment: sentinel.environment,
    admin: () => new Redis({ sentinels: sentinel.sentinels, name: sentinel.name }),
    failover: () => sentinel.killMaster(),
    close: () => sentinel.close(),
  };
}

/** Resolves once `condition` holds, asking again as the event loop turns (the test's timeout ends a wait that never does). */
async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 25));
}

/** The ids X was asked for, in every call so far. */
function idsAsked(x: XEmulator): string[] {
  return x.requests.filter((request) => request.path === '/2/users').flatMap((request) => request.query.ids?.split(',') ?? []);
}

interface Answer {
  status: number;
  errors: Array<{ extensions?: { code?: string } }> | undefined;
}

/**
 * Four clients sending `USERS` back to back, in turn to each replica, operation `n` asking `idsOf(n)`, until
 * `stop` (which resolves once the last answers are in).
 */
function stream(replicas: readonly SubgraphProcess[], idsOf: (n: number) => string[]) {
  const answers: Answer[] = [];
  let sent = 0;
  let stopped = false;
  const clients = Promise.all(
    Array.from({ length: 4 }, async () => {
      while (!stopped) {
        const n = sent++;
        const { status, body } = await replicas[n % replicas.length]!.gql(USERS, { ids: idsOf(n) });
        answers.push({ status, errors: body.errors as Answer['errors'] });
      }
    }),
  );
  return {
    answers,
    stop: async () => {
      stopped = true;
      await clients;
    },
  };
}

describe.each([
  ['Cluster', clusterTopology],
  ['Sentinel', sentinelTopology],
])('two replicas on a Redis %s', (_, start) => {
  let topology: Topology;
  let admin: Redis | Cluster;
  let x: XEmulator;
  const running: SubgraphProcess[] = [];
  const prefixes: string[] = [];

  beforeAll(async () => {
    topology = await start();
    admin = topology.admin();
    // A failover drops its connection for a moment: it reconnects by itself, and this test reads nothing then.
    admin.on('error', () => {});
    // An ample window: what a failover costs in calls is measured, not refused (see the failover case).
    x = await startXEmulator({ bearerToken: X_TEST_TOKEN, rateLimit: { limit: 100_000, windowSeconds: 900 } });
  }, 120_000);

  afterEach(async () => {
    await Promise.all(running.splice(0).map((replica) => replica.stop()));
    x.reset();
  });

  afterAll(async () => {
    for (const prefix of prefixes) {
      const keys = await keysUnder(admin, prefix).catch(() => []);
      for (const key of keys) await admin.unlink(key).catch(() => {});
    }
    admin?.disconnect();
    await x?.close();
    await topology?.close();
  });

  async function replicas(more: Record<string, string> = {}): Promise<[SubgraphProcess, SubgraphProcess, string]> {
    const prefix = uniquePrefix('topology');
    prefixes.push(prefix);
    const env = {
      X_BEARER_TOKEN: X_TEST_TOKEN,
      X_API_BASE_URL: x.url,
      X_CACHE: '1',
      REDIS_KEY_PREFIX: prefix,
      LOG_LEVEL: 'info',
      ...topology.environment,
      ...more,
    };
    const [a, b] = await Promise.all([startSubgraphProcess(env), startSubgraphProcess(env)]);
    running.push(a, b);
    return [a, b, prefix];
  }

  it('B asks X nothing for users A fetched; the records are spread over the slots, claims and budget keep to one', async () => {
    const [a, b, prefix] = await replicas();
    const ids = Array.from({ length: 20 }, (_, i) => String(i + 1));
    const first = await a.gql(USERS, { ids });
    expect(first.body.errors).toBeUndefined();
    expect(x.requests).toHaveLength(1);
    // A writes its answers beside its answer: B is asked once all 20 are there.
    await until(async () => (await keysUnder(admin, `${prefix}cache:`)).length === 20);

    const second = await b.gql(USERS, { ids });
    expect(second.body).toEqual(first.body);
    expect(x.requests).toHaveLength(1);

    // X's window, shared: one key under the hash tag of its upstream and scope.
    const budgetKeys = (await keysUnder(admin, prefix)).filter((key) => key.includes(':budget:'));
    expect(budgetKeys).toEqual([expect.stringMatching(/^[^{]*\{x:\}:budget:/)]);
    if (admin instanceof Cluster) {
      const slotOf = async (key: string) => Number(await admin.cluster('KEYSLOT', key));
      const recordSlots = new Set(await Promise.all((await keysUnder(admin, `${prefix}cache:`)).map(slotOf)));
      // Twenty users land in (nearly) twenty slots: no one node holds every record.
      expect(recordSlots.size).toBeGreaterThan(10);
    }
    for (const replica of [a, b]) expect(replica.output()).not.toMatch(/CROSSSLOT|Redis failed a command/);
  }, 60_000);

  it('a master failed over under a stream of requests: none fails, and no id is fetched twice', async () => {
    // The failover is waited out (REDIS_FAILOVER_WAIT_MS) rather than answered from memory, where each replica
    // would fetch for itself. The default, 3 s, covers these failovers (about 2 s on the Cluster, 2–3 s with
    // Sentinel, measured); a wait this test cannot outlast on a loaded machine keeps what is asserted the
    // mechanism, not this machine's speed.
    const [a, b] = await replicas({ REDIS_FAILOVER_WAIT_MS: '15000' });
    // Mostly ids both replicas asked already, one new id now and then.
    const { answers, stop } = stream([a, b], (n) => [
      String((n % 30) + 1),
      String((n % 7) + 1),
      ...(n % 25 === 0 ? [String(500 + n)] : []),
    ]);
    await until(async () => answers.length >= 40);
    await topology.failover();
    const after = answers.length;
    await until(async () => answers.length >= after + 60);
    await stop();

    expect(answers.length).toBeGreaterThanOrEqual(100);
    const failed = answers.filter((answer) => answer.status !== 200 || answer.errors !== undefined);
    expect(failed).toEqual([]);
    expect(x.requests.filter((request) => request.status !== 200)).toEqual([]);
    const asked = idsAsked(x);
    console.info(`${topology.name} failover: ${answers.length} answers, ${x.requests.length} X calls, ${new Set(asked).size} distinct ids`);
    expect(asked.length - new Set(asked).size).toBe(0);
  }, 120_000);

  it("a master failed over while X's window runs out: the window is never overspent", async () => {
    // The ledger's writes wait for a replica (`WAIT 1`) a quarter of REDIS_COMMAND_TIMEOUT_MS at most, 62 ms by
    // default: on a loaded 2-core machine running six Redis processes a replica may not get to acknowledge in
    // that time, the permit is used anyway, and the failover may lose it (seen once in CI: a 21st call, 429).
    // As with the failover wait, this test gives the mechanism room (500 ms) so that what it asserts is the
    // mechanism, not this machine's speed.
    const [a, b] = await replicas({ REDIS_FAILOVER_WAIT_MS: '15000', REDIS_COMMAND_TIMEOUT_MS: '2000' });
    // 20 calls left in X's window: fewer than the stream wants, so the window runs out while it flows.
    const window = 20;
    x.setRemaining('/2/users', window, Math.floor(Date.now() / 1000) + 900);
    // Three ids no one asked before, each time: every operation needs a call.
    const { answers, stop } = stream([a, b], (n) => [String(1_000 + 3 * n), String(1_001 + 3 * n), String(1_002 + 3 * n)]);
    await until(async () => x.requests.length >= 5);
    await topology.failover();
    // Until the window is spent (a test that never got there would show nothing: it times out instead).
    await until(async () => x.requests.length >= window);
    // The calls in flight when the window ran out are answered, and the operations after it find it spent.
    const spentAt = answers.length;
    await until(async () => answers.length >= spentAt + 40);
    await stop();

    console.info(
      `${topology.name} failover with a scarce window: ${answers.length} operations, ${x.requests.length} X calls for a window of ${window}`,
    );
    expect(x.requests.filter((request) => request.status === 429)).toEqual([]);
    expect(x.requests.length).toBe(window);
    // What the window could not carry was refused, not sent: operations after it answer RATE_LIMITED.
    const refused = answers.slice(spentAt).filter((answer) => answer.errors?.some((error) => error.extensions?.code === 'RATE_LIMITED'));
    expect(refused.length).toBeGreaterThan(0);
  }, 120_000);
});
