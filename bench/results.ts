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
  /** 'cold' (cache off, every operation upstream) or 'warm' (cache on) */
  path: 'cold' | 'warm';
  operations: number;
  operationsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** CPU time (user+system) of the subgraph process per operation */
  subgraphCpuMsPerOp: number;
  /** CPU time of the upstream emulator process(es) per operation, null when not measured */
  upstreamCpuMsPerOp: number | null;
  /** p99 of the upstream's own answers measured in the same scenario (raw requests straight to the emulator), null when not measured */
  upstreamP99Ms: number | null;
  /** Operations a second the upstream itself served in that raw phase (the same clients), null when not measured */
  upstreamOperationsPerSecond: number | null;
  upstreamCallsPerOp: number;
  rssMiB: number;
}

export interface BenchResults {
  version: 1;
  /** ISO 8601 time of the run */
  date: string;
  /** git commit the subgraph was built from */
  commit: string;
  machine: MachineInfo;
  settings: { seconds: number; clients: number; loadGenerator: string; emulatorMode: string };
  scenarios: ScenarioResult[];
  goals: { cpuMsPerHundredUserOp: number; p99OverUpstream: number; rssMiB: number };
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
