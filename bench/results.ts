/**
 * The machine-readable result of `npm run bench`: what `bench/run.ts` writes next to its text report and
 * what `bench/plot.ts` draws. Kept as plain types so that results of old runs stay readable; bump
 * `version` when a field changes meaning.
 */
import { cpus, release, totalmem, type } from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
}

export interface ScenarioResult {
  /** stable id, e.g. 'x-100-users-15-fields' */
  name: string;
  /** human label, e.g. 'xUsers · 100 users · 15 fields' */
  label: string;
  /** 'cold' (every operation's ids new: each one goes upstream) or 'warm' (a Zipf workload on the cache) */
  path: 'cold' | 'warm';
  /**
   * What answered the operations: this subgraph, the peer (Hive Gateway + GraphQL Mesh over X's OpenAPI
   * specification, bench/peer.ts) or the floor (the least a Node process does for the same answer,
   * bench/floor.ts); absent in results written before the peer was measured (the subgraph)
   */
  target?: 'subgraph' | 'peer' | 'floor';
  /** Whether the record cache was on (as shipped) or off; absent in results written before it was recorded, and for the peer (it has none) */
  cache?: 'on' | 'off';
  /** Operations answered in the closed-loop phase (the clients back to back: the throughput the CPU allows) */
  operations: number;
  operationsPerSecond: number;
  /**
   * Latency at a fixed rate (open loop, `rateOpsPerSecond`, timed from when each operation was due): the
   * subgraph's and, in `upstreamP99Ms`, the upstream's own for the same requests at the same rate. At
   * saturation each would only show its own queue; see `saturation`.
   */
  p50Ms: number;
  p99Ms: number;
  /** The fixed rate of the latency phase, null when the scenario has none (then p50/p99 are the closed loop's) */
  rateOpsPerSecond?: number | null;
  /** Latency in the closed-loop phase (each process at its own saturation) */
  saturation?: { p50Ms: number; p99Ms: number; upstreamP99Ms: number | null };
  errors: number;
  /** CPU time (user+system) of the subgraph process per operation (of the peer's process when `target` is 'peer') */
  subgraphCpuMsPerOp: number;
  /** CPU time of the upstream emulator process(es) per operation, null when not measured */
  upstreamCpuMsPerOp: number | null;
  /** p99 of the upstream's own answers to the same requests at the same rate (replayed straight at the emulator), null when not measured */
  upstreamP99Ms: number | null;
  /** Operations a second the upstream itself served in the closed-loop raw phase (the same clients), null when not measured */
  upstreamOperationsPerSecond: number | null;
  /** Upstream calls per operation: from the subgraph's /metrics; for the peer, the requests its probe operation made */
  upstreamCallsPerOp: number;
  /** RSS of the subgraph's (or the peer's) process after the scenario */
  rssMiB: number;
}

/**
 * The subgraph and the peer on the same work (one size: users and fields), each as a ratio of CPU per
 * operation to the upstream's own CPU per operation in the same phase, and against each other.
 */
export interface Comparison {
  /** e.g. '100 users · 15 fields' */
  size: string;
  /** The scenarios compared (names) */
  subgraph: string;
  peer: string;
  /** Whether the subgraph's record cache was on (as shipped; the one compared when measured) or off */
  subgraphCache: 'on' | 'off';
  subgraphOverUpstream: number;
  peerOverUpstream: number;
  peerOverSubgraph: number;
  subgraphRssMiB: number;
  peerRssMiB: number;
  /** The floor's CPU per operation over the upstream's own, the subgraph's over the floor's, and its RSS, when it ran (bench/floor.ts) */
  floorOverUpstream?: number;
  subgraphOverFloor?: number;
  floorRssMiB?: number;
}

/**
 * What the record cache costs a miss: a cold scenario run as shipped (cache on, every operation's records
 * stored) right after the same scenario with the cache off, in one run. Issue 17's goal: at most 1.1×.
 */
export interface MissCost {
  /** The scenarios paired (names): cache off, then on */
  off: string;
  on: string;
  /** CPU per operation with the cache on ÷ with it off */
  cpuOnOverOff: number;
  /** RSS after each process's phases (each configuration runs in a process of its own) */
  rssOffMiB: number;
  rssOnMiB: number;
}

export interface BenchResults {
  version: 1;
  /** ISO 8601 time of the run */
  date: string;
  /** git commit the subgraph was built from */
  commit: string;
  machine: MachineInfo;
  /** `peer`: what the peer rows ran (packages and versions); absent when no peer was measured */
  settings: { seconds: number; clients: number; loadGenerator: string; emulatorMode: string; peer?: string };
  scenarios: ScenarioResult[];
  /** The subgraph against the peer, per size measured for both; absent in results written before the peer */
  comparisons?: Comparison[];
  /** Each cold scenario's cost with the cache on over off; absent in results written before issue 17's pairing */
  missCosts?: MissCost[];
  /** `missCpuOnOverOff`: the most a miss may cost with the cache on, over off (absent before issue 17's pairing) */
  goals: { cpuMsPerHundredUserOp: number; p99OverUpstream: number; rssMiB: number; missCpuOnOverOff?: number };
}

const BYTES_PER_GIB = 1024 ** 3;

/** The machine the bench runs on; absolute figures only compare between runs on the same one. */
export function machineInfo(): MachineInfo {
  const processors = cpus();
  return {
    // cpus() is empty on some platforms (e.g. restricted containers); say so rather than throw.
    cpuModel: processors[0]?.model.trim() ?? 'unknown',
    cores: processors.length,
    memoryGiB: Math.round((totalmem() / BYTES_PER_GIB) * 10) / 10,
    node: process.version,
    os: `${type()} ${release()}`,
  };
}
