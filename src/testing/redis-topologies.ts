import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, MISSING_REDIS_SERVER } from './redis.js';
import { redisTlsArgs, type TlsFiles } from './redis-tls.js';
import { makeTempDir, removeTempDir } from './temp-dir.js';

/**
 * Redis Cluster and Redis Sentinel for tests, each of processes of its own on free loopback ports (never the
 * Redis that answers at 6379 on this machine), without persistence, in a temp dir removed on `close()`.
 * Every wait polls the real state (CLUSTER INFO/NODES, ROLE, INFO replication, SENTINEL …) against a
 * deadline and names what did not happen; a start-up that fails half way kills what it had started.
 * Needs `redis-server` ≥ 7.0 (`--cluster-port`, `SENTINEL DEBUG`) and, for a Cluster, `redis-cli`.
 */

const HOST = '127.0.0.1';
const POLL_MS = 100;
const DEFAULT_TIMEOUT_MS = 30_000;

/** What a run without `redis-cli` is told: it forms the Cluster (`redis-cli --cluster create`). */
export const MISSING_REDIS_CLI =
  'redis-cli is not installed (or not on PATH): startOwnCluster forms its Cluster with `redis-cli --cluster create`. Install it ' +
  '(Debian/Ubuntu: apt-get install redis-tools or redis-server; macOS: brew install redis), see docs/contributing.md';

export interface Address {
  host: string;
  port: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Processes

/** Children still running: a worker that exits without `close()` does not leave them behind (nor their dirs: `temp-dir.ts`). */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
}

/** Thrown by a check: the wait ends at once with `error`. */
class Fatal {
  constructor(readonly error: Error) {}
}

/**
 * Polls `check` every 100 ms until it returns `true`, or throws once `timeoutMs` has passed:
 * `timed out after … waiting for <what>; last: <the last reason check gave>`. A `Fatal` thrown by check ends the wait at once.
 */
async function waitFor(what: string, check: () => Promise<true | string>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not checked yet';
  for (;;) {
    try {
      const result = await check();
      if (result === true) return;
      last = result;
    } catch (error) {
      if (error instanceof Fatal) throw error.error;
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** One short-lived connection, for a probe: no retries, no queue, a command timeout. */
async function ask<T>(port: number, password: string | undefined, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({
    host: HOST,
    port,
    ...(password === undefined ? {} : { password }),
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1_000,
    commandTimeout: 2_000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

/** `field:value` lines of an INFO (or CLUSTER INFO) reply. */
function fields(info: unknown): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of String(info).split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) map.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return map;
}

async function roleOf(port: number, password: string | undefined): Promise<'master' | 'replica' | 'sentinel'> {
  const reply = (await ask(port, password, (client) => client.call('ROLE'))) as unknown[];
  const role = String(reply[0]);
  if (role === 'master') return 'master';
  if (role === 'slave') return 'replica';
  if (role === 'sentinel') return 'sentinel';
  throw new Error(`127.0.0.1:${port} answered ROLE ${role}`);
}

/** A redis-server (or Sentinel) process of ours; ready once it answers INFO as itself, loaded. */
class ServerProcess {
  private child: ChildProcess | undefined;
  private output = '';

  constructor(
    readonly label: string,
    readonly port: number,
    private readonly password: string | undefined,
    /** Read at each start: a restarted server may start with other arguments (`--replicaof`). */
    public args: string[],
    private readonly command = 'redis-server',
  ) {}

  get running(): boolean {
    const child = this.child;
    return child !== undefined && child.pid !== undefined && child.exitCode === null && child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.running ? this.child!.pid : undefined;
  }

  async start(timeoutMs: number): Promise<void> {
    if (this.running) throw new Error(`${this.label} runs already`);
    this.output = '';
    const child = spawn(this.command, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    installExitHook();
    liveChildren.add(child);
    let failure: Error | undefined;
    const collect = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-4_000);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.once('error', (error: NodeJS.ErrnoException) => {
      liveChildren.delete(child);
      failure ??= new Error(
        error.code === 'ENOENT' ? MISSING_REDIS_SERVER : `${this.label} (${this.command}) could not start: ${error.message}`,
      );
    });
    child.once('exit', (code, signal) => {
      liveChildren.delete(child);
      failure ??= new Error(`${this.label} (${this.command} on ${HOST}:${this.port}) exited ${code ?? signal}: ${this.output.trim()}`);
    });
    try {
      await waitFor(
        `${this.label} to answer on ${HOST}:${this.port}`,
        async () => {
          if (failure !== undefined) throw new Fatal(failure);
          // Ours, not a server that happens to answer on the port (ours may be failing with EADDRINUSE), and loaded.
          const info = fields(await ask(this.port, this.password, (client) => client.info()));
          if (info.get('process_id') !== String(child.pid))
            return `${HOST}:${this.port} answers as process ${info.get('process_id')}, not ours (${child.pid})`;
          // A Sentinel has no persistence section, nor data to load.
          return (info.get('loading') ?? '0') === '0' ? true : `${HOST}:${this.port} is loading its data`;
        },
        timeoutMs,
      );
    } catch (error) {
      await this.kill();
      throw error;
    }
  }

  /** SIGKILL: gone at once, connections reset, nothing saved. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }
}

/** Free loopback ports, none of them in `taken` (which they join). */
async function freePorts(count: number, taken: Set<number>): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort();
    if (taken.has(port)) continue;
    taken.add(port);
    ports.push(port);
  }
  return ports;
}

/**
 * Starts the server `build` makes of `count` free ports; a port taken between `freePort` and the server's bind
 * (another test's server) costs a retry on fresh ports, nothing else.
 */
async function startOnFreePorts(
  count: number,
  taken: Set<number>,
  started: ServerProcess[],
  timeoutMs: number,
  build: (ports: number[]) => Promise<ServerProcess>,
): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    const server = await build(await freePorts(count, taken));
    started.push(server);
    try {
      await server.start(timeoutMs);
      return server;
    } catch (error) {
      started.splice(started.indexOf(server), 1);
      if (attempt >= 5 || !/Address already in use/i.test(String((error as Error).message))) throw error;
    }
  }
}

/** Like Promise.all, but settles only once every start has: none still starting when a failed one is cleaned up. */
async function allStarted<T>(starts: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(starts);
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return results.map((result) => (result as PromiseFulfilledResult<T>).value);
}

async function killAll(servers: readonly ServerProcess[]): Promise<void> {
  await Promise.all(servers.map((server) => server.kill()));
}

/** Runs `redis-cli` to its end; rejects with its output on a non-zero exit, and names it when it is missing. */
async function runCli(command: string, args: string[], timeoutMs: number): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  installExitHook();
  liveChildren.add(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} --cluster create did not finish within ${timeoutMs} ms: ${output.trim()}`));
    }, timeoutMs);
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      reject(new Error(error.code === 'ENOENT' ? MISSING_REDIS_CLI : `${command} could not start: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      if (code === 0) resolve(output);
      else reject(new Error(`${command} --cluster create exited ${code ?? signal}: ${output.trim()}`));
    });
  });
}

/** A value for a config file line (sdssplitargs): quoted, `\` and `"` escaped. */
function confValue(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n')}"`;
}

const common = (port: number, dir: string, password: string | undefined): string[] => [
  '--port',
  String(port),
  '--bind',
  HOST,
  '--dir',
  dir,
  '--save',
  '',
  '--appendonly',
  'no',
  // Diskless full sync waits 5 s for more replicas by default: a replica would link up 5 s late.
  '--repl-diskless-sync-delay',
  '0',
  ...(password === undefined ? [] : ['--requirepass', password, '--masterauth', password]),
];

// ---------------------------------------------------------------------------------------------------------------
// Cluster

export interface ClusterNode extends Address {
  /** The cluster bus port (`--cluster-port`). */
  readonly busPort: number;
  /** With `tls`: the node's TLS port (`port` stays plaintext, for the helper's own probes). */
  readonly tlsPort: number | undefined;
  /** Whether its process runs now. */
  readonly running: boolean;
  /** Its process id while it runs. */
  readonly pid: number | undefined;
  /** What it answers to ROLE now (rejects while it does not run). */
  role(): Promise<'master' | 'replica'>;
  /** SIGKILL, without waiting for the Cluster to notice (a master's replica is promoted some 2 s later). */
  kill(): Promise<void>;
  /**
   * Starts it again on its ports with its nodes.conf, empty; resolves once the Cluster is whole again (a former
   * master whose slots moved comes back as a replica of the node that took them).
   */
  restart(): Promise<void>;
}

export interface OwnCluster {
  readonly nodes: readonly ClusterNode[];
  /** For `new Cluster(startupNodes)`. */
  readonly startupNodes: Address[];
  /** `127.0.0.1:p1,127.0.0.1:p2,…`: the value of `REDIS_CLUSTER_NODES` (with `tls`, the TLS ports). */
  readonly env: string;
  /**
   * `REDIS_CLUSTER_NODES` (and `REDIS_PASSWORD` with a password), for a process under test; with `tls`, the TLS
   * ports and `REDIS_TLS=1` (the process must also trust the CA: `NODE_EXTRA_CA_CERTS`).
   */
  readonly environment: Record<string, string>;
  readonly password: string | undefined;
  /** The temp dir its nodes work in (removed by `close()`). */
  readonly dir: string;
  /** The running masters that own slots now. */
  masters(): Promise<ClusterNode[]>;
  /**
   * A real failover: SIGKILLs the master on `masterPort` (or the first master with a linked replica) and resolves
   * once one of its replicas owns its slots and the Cluster is whole again. The old node stays down (`restart()` it).
   */
  failover(masterPort?: number): Promise<{ old: ClusterNode; new: ClusterNode }>;
  /** `CLUSTER FAILOVER` on a replica of `masterPort` (or of the first master): the two swap roles, nothing is lost. */
  manualFailover(masterPort?: number): Promise<{ old: ClusterNode; new: ClusterNode }>;
  /** Resolves once every running node reports `cluster_state:ok`, they agree on the slots and every replica is linked. */
  waitHealthy(): Promise<void>;
  /** The process ids of the nodes that run now. */
  pids(): number[];
  /** Kills every node and removes the temp dir; safe to call twice. */
  close(): Promise<void>;
}

export interface OwnClusterOptions {
  /** Masters (≥ 3, as `redis-cli --cluster create` asks); default 3. */
  masters?: number;
  /** Replicas of each master; default 1. */
  replicasPerMaster?: number;
  /** `requirepass`/`masterauth` of every node. */
  password?: string;
  /** Deadline of each wait; default 30 s. */
  timeoutMs?: number;
  /** The redis-cli to run (a test of a machine without one names one that is not there). */
  cliCommand?: string;
  /**
   * Each node also serves TLS on a port of its own (`tlsPort`) with these files (src/testing/redis-tls.ts), and the
   * bus and replication use TLS (`--tls-cluster yes --tls-replication yes`). A TLS client is told the TLS ports
   * (CLUSTER SLOTS, MOVED); `port`, `startupNodes` and the helper's probes stay plaintext.
   */
  tls?: TlsFiles;
}

interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string;
  link: string;
  slots: string;
}

/** CLUSTER NODES: `<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot> …`. */
function parseNodes(text: unknown): NodeLine[] {
  return String(text)
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id = '', address = '', flags = '', masterId = '', , , , link = '', ...slots] = line.trim().split(' ');
      const port = Number(address.split('@')[0]!.split(':').pop());
      return { id, port, flags: flags.split(','), masterId, link, slots: slots.join(' ') };
    });
}

class OwnClusterNode implements ClusterNode {
  readonly host = HOST;
  /** Its cluster node id, once seen (kept in its nodes.conf across restarts). */
  id: string | undefined;
  onRestart: () => Promise<void> = async () => {};

  constructor(
    readonly server: ServerProcess,
    readonly busPort: number,
    private readonly password: string | undefined,
    readonly tlsPort: number | undefined,
  ) {}

  get port(): number {
    return this.server.port;
  }
  get running(): boolean {
    return this.server.running;
  }
  get pid(): number | undefined {
    return this.server.pid;
  }
  async role(): Promise<'master' | 'replica'> {
    if (!this.running) throw new Error(`cluster node ${HOST}:${this.port} does not run`);
    return (await roleOf(this.port, this.password)) as 'master' | 'replica';
  }
  kill(): Promise<void> {
    return this.server.kill();
  }
  async restart(): Promise<void> {
    await this.onRestart();
  }
}

export async function startOwnCluster(options: OwnClusterOptions = {}): Promise<OwnCluster> {
  const masterCount = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  if (!Number.isInteger(masterCount) || masterCount < 3) throw new Error(`a Cluster needs at least 3 masters, not ${masterCount}`);
  if (!Number.isInteger(replicasPerMaster) || replicasPerMaster < 0) throw new Error(`replicasPerMaster must be ≥ 0`);
  const { password, tls } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const dir = await makeTempDir('cluster');
  const servers: ServerProcess[] = [];
  const taken = new Set<number>();
  let closed = false;

  const close = async () => {
    closed = true;
    await killAll(servers);
    await removeTempDir(dir);
  };

  try {
    const nodes = await allStarted(
      Array.from({ length: masterCount * (1 + replicasPerMaster) }, async () => {
        let busPort = 0;
        let tlsPort: number | undefined;
        const server = await startOnFreePorts(tls === undefined ? 2 : 3, taken, servers, timeoutMs, async ([port, bus, tlsOn]) => {
          busPort = bus!;
          tlsPort = tlsOn;
          const nodeDir = join(dir, `node-${port}`);
          await mkdir(nodeDir, { recursive: true });
          const args = [
            ...common(port!, nodeDir, password),
            '--cluster-enabled',
            'yes',
            '--cluster-port',
            String(bus),
            '--cluster-config-file',
            join(nodeDir, `nodes-${port}.conf`),
            '--cluster-node-timeout',
            '1000',
            // A replica however long unlinked may still be promoted: a test's failover must not depend on timing.
            '--cluster-replica-validity-factor',
            '0',
            ...(tls === undefined ? [] : [...redisTlsArgs(tls, tlsOn!), '--tls-cluster', 'yes', '--tls-replication', 'yes']),
          ];
          return new ServerProcess(`cluster node ${port}`, port!, password, args);
        });
        return new OwnClusterNode(server, busPort, password, tlsPort);
      }),
    );

    const running = () => nodes.filter((node) => node.running);
    const byId = (id: string) => nodes.find((node) => node.id === id);

    /** `true` when the running nodes make one healthy Cluster; else what is not so yet. */
    const health = async (): Promise<true | string> => {
      const live = running();
      const reports = await Promise.all(
        live.map(async (node) => {
          const [info, text, replication] = await ask(node.port, password, (client) =>
            Promise.all([client.call('CLUSTER', 'INFO'), client.call('CLUSTER', 'NODES'), client.info('replication')]),
          );
          const view = parseNodes(text);
          node.id = view.find((line) => line.flags.includes('myself'))?.id ?? node.id;
          return { node, info: fields(info), view, replication: fields(replication) };
        }),
      );
      const liveIds = new Set(live.map((node) => node.id));
      let slotMap: string | undefined;
      let roles: string | undefined;
      for (const { node, info, view, replication } of reports) {
        const at = `${HOST}:${node.port}`;
        if (info.get('cluster_state') !== 'ok') return `${at} reports cluster_state:${info.get('cluster_state')}`;
        if (replication.get('role') === 'slave' && replication.get('master_link_status') !== 'up')
          return `replica ${at} reports master_link_status:${replication.get('master_link_status')}`;
        for (const other of live) {
          const line = view.find((l) => l.id === other.id);
          if (line === undefined) return `${at} does not know ${HOST}:${other.port} yet`;
          const bad = line.flags.filter((flag) => ['fail', 'fail?', 'handshake', 'noaddr'].includes(flag));
          if (bad.length > 0) return `${at} flags ${HOST}:${other.port} ${bad.join(',')}`;
          if (!line.flags.includes('myself') && line.link !== 'connected') return `${at} has no link to ${HOST}:${other.port}`;
        }
        const owners = view.filter((l) => l.flags.includes('master') && l.slots !== '');
        for (const owner of owners)
          if (!liveIds.has(owner.id)) return `${at} still gives slots ${owner.slots} to ${HOST}:${owner.port}, which does not run`;
        if (owners.length !== masterCount) return `${at} sees ${owners.length} masters with slots, not ${masterCount}`;
        const map = owners
          .map((l) => `${l.id}:${l.slots}`)
          .sort()
          .join(' ');
        if (slotMap !== undefined && map !== slotMap) return `the nodes do not agree on the slots yet (${at} differs)`;
        slotMap = map;
        // Who replicates whom, as every node sees it: a replica gossiped as a master (no slots) must not be picked as one.
        const who = view
          .filter((l) => liveIds.has(l.id))
          .map((l) => `${l.id}:${l.flags.includes('master') ? 'master' : l.masterId}`)
          .sort()
          .join(' ');
        if (roles !== undefined && who !== roles) return `the nodes do not agree yet on who replicates whom (${at} differs)`;
        roles = who;
      }
      return true;
    };
    const waitHealthy = () =>
      waitFor(
        `the Cluster (${running().length} running nodes) to be whole: cluster_state:ok everywhere, one slot map, replicas linked`,
        health,
        timeoutMs,
      );

    for (const node of nodes) {
      node.onRestart = async () => {
        if (closed) throw new Error('the Cluster is closed');
        // Empty, as a node that lost its disk: a replica's last full sync left a dump.rdb there.
        await rm(join(dir, `node-${node.port}`, 'dump.rdb'), { force: true });
        await node.server.start(timeoutMs);
        await waitHealthy();
      };
    }

    await runCli(
      options.cliCommand ?? 'redis-cli',
      [
        ...(password === undefined ? [] : ['-a', password, '--no-auth-warning']),
        '--cluster',
        'create',
        ...nodes.map((node) => `${HOST}:${node.port}`),
        '--cluster-replicas',
        String(replicasPerMaster),
        '--cluster-yes',
      ],
      timeoutMs,
    );
    await waitHealthy();

    /** The current view of a running node: masters with slots and who replicates whom. */
    const view = async () => {
      const node = running()[0];
      if (node === undefined) throw new Error('no node of the Cluster runs');
      return parseNodes(await ask(node.port, password, (client) => client.call('CLUSTER', 'NODES')));
    };
    const masters = async () => {
      await waitHealthy();
      const lines = await view();
      return lines
        .filter((l) => l.flags.includes('master') && l.slots !== '')
        .map((l) => byId(l.id))
        .filter((node): node is OwnClusterNode => node?.running === true);
    };
    /** A running master (the one on `masterPort`, else the first) and its running, linked replicas. */
    const pick = async (masterPort: number | undefined) => {
      await waitHealthy();
      const lines = await view();
      const candidates = lines.filter((l) => l.flags.includes('master') && l.slots !== '' && byId(l.id)?.running);
      for (const line of candidates) {
        if (masterPort !== undefined && line.port !== masterPort) continue;
        const replicas = lines
          .filter((l) => l.masterId === line.id && !l.flags.includes('fail'))
          .map((l) => byId(l.id))
          .filter((node): node is OwnClusterNode => node?.running === true);
        if (replicas.length > 0) return { master: byId(line.id)!, replicas };
        if (masterPort !== undefined) throw new Error(`master ${HOST}:${masterPort} has no running replica to promote`);
      }
      const seen = lines.map((l) => `${l.port} ${l.flags.join(',')}${l.masterId === '-' ? '' : ` of ${byId(l.masterId)?.port}`}`);
      throw new Error(
        (masterPort === undefined
          ? 'no master of the Cluster has a running replica to promote'
          : `${HOST}:${masterPort} is not a running master of the Cluster`) + ` (CLUSTER NODES: ${seen.join('; ')})`,
      );
    };

    const promotedAmong = async (replicas: OwnClusterNode[]): Promise<OwnClusterNode | undefined> => {
      for (const replica of replicas) if ((await replica.role().catch(() => undefined)) === 'master') return replica;
      return undefined;
    };

    const clusterNodes = nodes.map((node) => `${HOST}:${node.tlsPort ?? node.port}`).join(',');
    return {
      nodes,
      startupNodes: nodes.map((node) => ({ host: HOST, port: node.port })),
      env: clusterNodes,
      environment: {
        REDIS_CLUSTER_NODES: clusterNodes,
        ...(password === undefined ? {} : { REDIS_PASSWORD: password }),
        ...(tls === undefined ? {} : { REDIS_TLS: '1' }),
      },
      password,
      dir,
      masters,
      waitHealthy,
      async failover(masterPort) {
        const { master, replicas } = await pick(masterPort);
        await master.kill();
        let promoted: OwnClusterNode | undefined;
        await waitFor(
          `a replica of the killed master ${HOST}:${master.port} (${replicas.map((r) => r.port).join(', ')}) to take its slots`,
          async () => {
            promoted ??= await promotedAmong(replicas);
            if (promoted === undefined) return 'no replica answers ROLE master yet';
            return health();
          },
          timeoutMs,
        );
        return { old: master, new: promoted! };
      },
      async manualFailover(masterPort) {
        const { master, replicas } = await pick(masterPort);
        const replica = replicas[0]!;
        const requestFailover = () => ask(replica.port, password, (client) => client.call('CLUSTER', 'FAILOVER'));
        await requestFailover();
        let askedAt = Date.now();
        await waitFor(
          `replica ${HOST}:${replica.port} to take over from ${HOST}:${master.port} (CLUSTER FAILOVER)`,
          async () => {
            if ((await replica.role()) !== 'master') {
              // A manual failover the master does not answer within 5 s is abandoned: ask again.
              if (Date.now() - askedAt > 6_000) {
                askedAt = Date.now();
                await requestFailover();
              }
              return `${HOST}:${replica.port} is no master yet`;
            }
            if ((await master.role()) !== 'replica') return `${HOST}:${master.port} is no replica yet`;
            return health();
          },
          timeoutMs,
        );
        return { old: master, new: replica };
      },
      pids: () => nodes.map((node) => node.pid).filter((pid): pid is number => pid !== undefined),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Sentinel

export interface OwnSentinel {
  /** The master name the Sentinels monitor. */
  readonly name: string;
  /** For `new Redis({ sentinels, name })`. */
  readonly sentinels: Address[];
  /** `127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3`: the value of `REDIS_SENTINELS`. */
  readonly env: string;
  /** `REDIS_SENTINELS`, `REDIS_SENTINEL_NAME` (and `REDIS_PASSWORD` with a password), for a process under test. */
  readonly environment: Record<string, string>;
  readonly password: string | undefined;
  /** The two data nodes (master and replica, in either role). */
  readonly servers: readonly Address[];
  readonly dir: string;
  /** The master the Sentinels name now (`SENTINEL get-master-addr-by-name`). */
  master(): Promise<Address>;
  /**
   * `SENTINEL FAILOVER <name>`: resolves once every Sentinel names the other node, it answers ROLE master, and the
   * former master replicates from it (so the next failover can happen).
   */
  failover(): Promise<void>;
  /**
   * SIGKILLs the current master; resolves once the Sentinels promoted the replica and (unless `rejoin: false`) the
   * killed node runs again, empty, as its replica.
   */
  killMaster(options?: { rejoin?: boolean }): Promise<void>;
  /** Resolves once the Sentinels agree on a running master with a linked replica and know each other. */
  waitHealthy(): Promise<void>;
  pids(): number[];
  /** Kills every process and removes the temp dir; safe to call twice. */
  close(): Promise<void>;
}

export interface OwnSentinelOptions {
  /** `requirepass`/`masterauth` of the two data nodes, and the Sentinels' `auth-pass`. */
  password?: string;
  /** Master name; default `mymaster`. */
  name?: string;
  timeoutMs?: number;
  /**
   * `SENTINEL DEBUG info-period 1000 publish-period 500` on each Sentinel (default true): they find the replica,
   * each other and a former master a few times sooner; what they do is unchanged. (`ping-period 500` is set either way.)
   */
  fastSentinels?: boolean;
}

export async function startOwnSentinel(options: OwnSentinelOptions = {}): Promise<OwnSentinel> {
  const { password } = options;
  const name = options.name ?? 'mymaster';
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const dir = await makeTempDir('sentinel');
  const servers: ServerProcess[] = [];
  const taken = new Set<number>();

  const close = async () => {
    await killAll(servers);
    await removeTempDir(dir);
  };

  try {
    const dataArgs = (port: number, replicaOf?: number) => [
      ...common(port, join(dir, `redis-${port}`), password),
      ...(replicaOf === undefined ? [] : ['--replicaof', HOST, String(replicaOf)]),
    ];
    const startData = (label: string, replicaOf?: number) =>
      startOnFreePorts(1, taken, servers, timeoutMs, async ([port]) => {
        await mkdir(join(dir, `redis-${port}`), { recursive: true });
        return new ServerProcess(label, port!, password, dataArgs(port!, replicaOf));
      });
    const first = await startData('master');
    const second = await startData('replica', first.port);
    const data = [first, second];
    const other = (port: number) => data.find((server) => server.port !== port)!;

    /** Whether `replica` replicates from `master` with the link up. */
    const linked = async (replica: ServerProcess, master: ServerProcess): Promise<true | string> => {
      const info = fields(await ask(replica.port, password, (client) => client.info('replication')));
      if (info.get('role') !== 'slave' || info.get('master_port') !== String(master.port))
        return `${HOST}:${replica.port} does not replicate from ${HOST}:${master.port} yet`;
      if (info.get('master_link_status') !== 'up')
        return `${HOST}:${replica.port} reports master_link_status:${info.get('master_link_status')}`;
      return true;
    };
    // Sentinels started after the replica linked find it in their first INFO to the master, not 10 s later.
    await waitFor('the replica to link to the master', () => linked(second, first), timeoutMs);

    const sentinels = await allStarted(
      [0, 1, 2].map(() =>
        startOnFreePorts(1, taken, servers, timeoutMs, async ([port]) => {
          const sentinelDir = join(dir, `sentinel-${port}`);
          await mkdir(sentinelDir, { recursive: true });
          const conf = join(sentinelDir, 'sentinel.conf');
          await writeFile(
            conf,
            [
              `port ${port}`,
              `bind ${HOST}`,
              'daemonize no',
              'logfile ""',
              `dir ${confValue(sentinelDir)}`,
              'sentinel resolve-hostnames no',
              `sentinel monitor ${name} ${HOST} ${first.port} 2`,
              `sentinel down-after-milliseconds ${name} 1000`,
              `sentinel failover-timeout ${name} 5000`,
              ...(password === undefined ? [] : [`sentinel auth-pass ${name} ${confValue(password)}`]),
              '',
            ].join('\n'),
          );
          return new ServerProcess(`sentinel ${port}`, port!, undefined, [conf, '--sentinel']);
        }),
      ),
    );
    // A Sentinel sends its first PING one ping period after it (re)connects, but counts the silence from the connect: with
    // down-after-milliseconds equal to the ping period (1000 ms) the master it has just switched to can look down for a
    // moment, and 3 Sentinels at once fail it over again. Pinging every 500 ms leaves a margin. The shorter INFO and hello
    // periods (fastSentinels) make them find the replica, each other and a former master a few times sooner.
    await Promise.all(
      sentinels.map((sentinel) =>
        ask(sentinel.port, undefined, (client) =>
          client.call(
            'SENTINEL',
            'DEBUG',
            'ping-period',
            '500',
            ...((options.fastSentinels ?? true) ? ['info-period', '1000', 'publish-period', '500'] : []),
          ),
        ),
      ),
    );

    const masterAddr = async (sentinel: ServerProcess): Promise<number | undefined> => {
      const reply = (await ask(sentinel.port, undefined, (client) => client.call('SENTINEL', 'get-master-addr-by-name', name))) as
        | string[]
        | null;
      return reply === null ? undefined : Number(reply[1]);
    };

    /** `true` once every Sentinel names `master`, sees it up and `replica` linked to it, and knows the other two. */
    const healthyWith = async (master: ServerProcess, replica: ServerProcess): Promise<true | string> => {
      if (!master.running) return `${HOST}:${master.port} does not run`;
      if (!replica.running) return `${HOST}:${replica.port} does not run`;
      if ((await roleOf(master.port, password)) !== 'master') return `${HOST}:${master.port} does not answer ROLE master`;
      const link = await linked(replica, master);
      if (link !== true) return link;
      for (const sentinel of sentinels) {
        const at = `sentinel ${HOST}:${sentinel.port}`;
        const [masterInfo, replicas, info] = await ask(sentinel.port, undefined, (client) =>
          Promise.all([client.call('SENTINEL', 'MASTER', name), client.call('SENTINEL', 'REPLICAS', name), client.info('sentinel')]),
        );
        if (fields(info).get('sentinel_tilt') !== '0') return `${at} is in TILT mode (its timer stalled): it does nothing for 30 s`;
        const m = pairs(masterInfo);
        if (m.get('port') !== String(master.port)) return `${at} names ${m.get('ip')}:${m.get('port')} as master, not ${master.port}`;
        if (m.get('flags') !== 'master') return `${at} flags the master ${m.get('flags')}`;
        if (m.get('num-other-sentinels') !== '2') return `${at} knows ${m.get('num-other-sentinels')} other sentinels, not 2`;
        const r = (replicas as unknown[]).map(pairs).find((entry) => entry.get('port') === String(replica.port));
        if (r === undefined) return `${at} does not list replica ${replica.port} yet`;
        if (r.get('flags') !== 'slave') return `${at} flags replica ${replica.port} ${r.get('flags')}`;
        if (r.get('master-port') !== String(master.port) || r.get('master-link-status') !== 'ok')
          return `${at} sees replica ${replica.port} linked to ${r.get('master-port')} (${r.get('master-link-status')})`;
      }
      return true;
    };

    /** The data node every Sentinel names as master, or why there is none. */
    const agreedMaster = async (): Promise<ServerProcess | string> => {
      const ports = await Promise.all(sentinels.map(masterAddr));
      if (new Set(ports).size !== 1) return `the Sentinels name different masters (${ports.join(', ')})`;
      return data.find((server) => server.port === ports[0]) ?? `the Sentinels name ${HOST}:${ports[0]}, not one of ours`;
    };
    const health = async (): Promise<true | string> => {
      const master = await agreedMaster();
      return typeof master === 'string' ? master : healthyWith(master, other(master.port));
    };
    const waitHealthy = () =>
      waitFor('the Sentinels to agree on a running master with its replica linked, and to know each other', health, timeoutMs);
    /** Waits until the master is healthy, and resolves it. */
    const healthyMaster = async (): Promise<ServerProcess> => {
      await waitHealthy();
      const master = await agreedMaster();
      if (typeof master === 'string') throw new Error(master);
      return master;
    };
    await waitHealthy();

    /** Waits until every Sentinel names `next` and it answers ROLE master. */
    const promoted = (next: ServerProcess, how: string) =>
      waitFor(
        `the Sentinels to promote ${HOST}:${next.port} (${how})`,
        async () => {
          for (const sentinel of sentinels) {
            const port = await masterAddr(sentinel);
            if (port !== next.port) return `sentinel ${HOST}:${sentinel.port} names ${HOST}:${port}`;
          }
          return (await roleOf(next.port, password)) === 'master' ? true : `${HOST}:${next.port} does not answer ROLE master yet`;
        },
        timeoutMs,
      );
    /** Waits until `old` replicates from `next` and the Sentinels see it so. */
    const rejoined = (old: ServerProcess, next: ServerProcess) =>
      waitFor(
        `the former master ${HOST}:${old.port} to replicate from ${HOST}:${next.port}, the Sentinels agreeing`,
        () => healthyWith(next, old),
        timeoutMs,
      );

    const master = async (): Promise<Address> => {
      const errors: string[] = [];
      for (const sentinel of sentinels) {
        try {
          const port = await masterAddr(sentinel);
          if (port !== undefined) return { host: HOST, port };
          errors.push(`${sentinel.port}: no master named ${name}`);
        } catch (error) {
          errors.push(`${sentinel.port}: ${(error as Error).message}`);
        }
      }
      throw new Error(`no Sentinel names the master of ${name}: ${errors.join('; ')}`);
    };

    return {
      name,
      sentinels: sentinels.map((sentinel) => ({ host: HOST, port: sentinel.port })),
      env: sentinels.map((sentinel) => `${HOST}:${sentinel.port}`).join(','),
      environment: {
        REDIS_SENTINELS: sentinels.map((sentinel) => `${HOST}:${sentinel.port}`).join(','),
        REDIS_SENTINEL_NAME: name,
        ...(password === undefined ? {} : { REDIS_PASSWORD: password }),
      },
      password,
      servers: data.map((server) => ({ host: HOST, port: server.port })),
      dir,
      master,
      waitHealthy,
      async failover() {
        const old = await healthyMaster();
        const next = other(old.port);
        await waitFor(
          `sentinel ${HOST}:${sentinels[0]!.port} to accept SENTINEL FAILOVER ${name}`,
          async () => {
            await ask(sentinels[0]!.port, undefined, (client) => client.call('SENTINEL', 'FAILOVER', name));
            return true;
          },
          timeoutMs,
        );
        await promoted(next, 'SENTINEL FAILOVER');
        await rejoined(old, next);
      },
      async killMaster({ rejoin = true } = {}) {
        const old = await healthyMaster();
        const next = other(old.port);
        await old.kill();
        await promoted(next, `master ${HOST}:${old.port} killed`);
        if (!rejoin) return;
        // Back empty, as the replica the Sentinels would make of it.
        await rm(join(dir, `redis-${old.port}`, 'dump.rdb'), { force: true });
        old.args = dataArgs(old.port, next.port);
        await old.start(timeoutMs);
        await rejoined(old, next);
      },
      pids: () => servers.map((server) => server.pid).filter((pid): pid is number => pid !== undefined),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** A flat `[key, value, key, value, …]` reply as a map. */
function pairs(reply: unknown): Map<string, string> {
  const list = reply as string[];
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < list.length; i += 2) map.set(String(list[i]), String(list[i + 1]));
  return map;
}
