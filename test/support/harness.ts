import { type App, startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Clock } from '../../src/core/clock.js';
import { type Emulators, startEmulators } from '../../src/emulators/start.js';
import type { ProviderKit } from '../../src/providers/kit.js';
import { kits } from '../../src/providers/kits.js';
import type { Provider } from '../../src/providers/registry.js';
import { captureLogs } from '../../src/testing/log-capture.js';

/**
 * The real thing for tests: every provider's emulator (on loopback, or in process for Telegram) and
 * the subgraph over HTTP in front of them, configured through the same environment variables a user
 * sets. It loops over the provider registry, so a new provider is started here without a change.
 * Every log line is kept, so tests can assert that no secret was logged.
 */

type Kit = (typeof kits)[number];
/** A provider's name, as its test kit says it. */
export type ProviderName = Kit['name'];
type KitOf<N extends ProviderName> = Extract<Kit, { name: N }>;
/** What each provider's emulator takes as options in a test. */
export type EmulatorOptions = { [N in ProviderName]?: Parameters<KitOf<N>['start']>[1] };
/** The emulator a test inspects and drives, per provider. */
export type EmulatorHandle<N extends ProviderName> = Awaited<ReturnType<KitOf<N>['start']>>['handle'];

export interface HarnessOptions {
  /** Each provider emulator's own options, by provider name. */
  emulators?: EmulatorOptions;
  /**
   * Variables over those that point the providers at their emulators. Without any `AUTH_` variable,
   * AUTH_PERSONAL_DATA=open is added: protected fields are served as in the demo. Every provider's
   * record cache is off (`<NAME>_CACHE=0`) unless the test sets it: call counts then count each operation.
   * Operations are compiled from their first run (GRAPHQL_COMPILE_AFTER_RUNS=0). The budget planner holds
   * nothing (UPSTREAM_MAX_HOLD_MS=0) unless the test sets it.
   */
  env?: Record<string, string>;
  /** The clock of the providers' clients (waits, pacing, tokens); the system's unless a test moves its own. */
  clock?: Clock;
  /** The test kits whose emulators start, each pointing its provider at it (default: every kit of the registry). */
  kits?: readonly ProviderKit[];
  /** The providers the subgraph serves (default: those of `kits`); one without a running emulator is not configured. */
  providers?: readonly Provider[];
}

export interface Harness {
  app: App;
  url: string;
  logs: string[];
  emulators: Emulators;
  /** The emulator of one provider. */
  emulator<N extends ProviderName>(name: N): EmulatorHandle<N>;
  /** POSTs an operation to /graphql; returns the HTTP status and the parsed body. */
  gql<T = any>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GqlResult<T>>;
  /** Forgets every emulator's recorded requests, injected faults and rate-limit state. */
  reset(): void;
  close(): Promise<void>;
}

export interface GqlResult<T> {
  status: number;
  body: { data?: T; errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, any> }> };
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const chosen: Partial<Record<string, unknown>> = options.emulators ?? {};
  const started: readonly ProviderKit[] = options.kits ?? kits;
  const served = options.providers ?? started.map((kit) => kit.provider);
  // Each kit started with the options the test chose for it (typed per provider by `EmulatorOptions`).
  const emulators = await startEmulators(started.map((kit) => ({ name: kit.name, start: () => kit.start('test', chosen[kit.name]) })));
  const { logger, lines: logs } = captureLogs('debug');
  let app: App;
  try {
    const env: Record<string, string | undefined> = {
      PORT: '0',
      HOST: '127.0.0.1',
      UPSTREAM_MAX_RETRY_WAIT_MS: '1500',
      ...emulators.env,
      ...options.env,
    };
    // Tests of the data paths read personal fields as the demo serves them; a test that sets any AUTH_ variable tests access control.
    if (!Object.keys(env).some((name) => name.startsWith('AUTH_'))) env.AUTH_PERSONAL_DATA = 'open';
    // The record cache is off unless a test turns it on: the call-count tests count what each operation
    // asks upstream, and an answer cached by an earlier case would hide it.
    for (const provider of served) env[`${provider.id.name.toUpperCase()}_CACHE`] ??= '0';
    // Every operation runs compiled from its first run (a server compiles a document when it comes again):
    // the tests hold the compiled queries to every answer; GRAPHQL_EXECUTOR=graphql-js runs them on graphql-js.
    env.GRAPHQL_COMPILE_AFTER_RUNS ??= '0';
    // The budget planner holds nothing unless a test of it says otherwise: the emulators' windows are X's real
    // 300 calls per 15 minutes, under which every test's partial batches would wait UPSTREAM_MAX_HOLD_MS.
    env.UPSTREAM_MAX_HOLD_MS ??= '0';
    // Nothing is turned away for a late event loop unless a test of it says so: a test run keeps two cores
    // busy with many files at once, and a request answered OVERLOADED there would be a flake, not a finding.
    env.MAX_EVENT_LOOP_DELAY_MS ??= '0';
    env.GRAPHQL_COMPILE_BUDGET_MS ??= '1000000';
    env.GRAPHQL_EXECUTOR ??= process.env.GRAPHQL_EXECUTOR;
    const config = loadConfig(served, env);
    app = await startApp(config, logger, { transports: emulators.transports, clock: options.clock });
  } catch (error) {
    await emulators.close();
    throw error;
  }
  const url = app.url;
  return {
    app,
    url,
    logs,
    emulators,
    emulator: (name) => emulators.running.get(name)!.handle as never,
    async gql(query, variables, headers = {}) {
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, body: (await res.json()) as any };
    },
    reset: () => emulators.reset(),
    async close() {
      await app.close();
      await emulators.close();
    },
  };
}

/** `n` distinct demo ids starting at `from`, as strings. */
export function demoIds(n: number, from = 1): string[] {
  return Array.from({ length: n }, (_, i) => String(from + i));
}
