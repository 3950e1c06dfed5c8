import type { Env } from '../core/types.js';
import type { RunningEmulator } from '../providers/kit.js';

/** Every provider's emulator, running: what the demo serves and what the tests drive. */
export interface Emulators {
  /** By provider name. */
  running: ReadonlyMap<string, RunningEmulator>;
  /** Every provider's variables that point it at its emulator, merged. */
  env: Env;
  /** Transports of the emulators that do not speak over the network, by provider name. */
  transports: ReadonlyMap<string, unknown>;
  reset(): void;
  close(): Promise<void>;
}

/** One emulator to start: its provider's name, and how (a kit's `start` with the options the caller chose). */
export interface EmulatorStart {
  readonly name: string;
  start(): Promise<RunningEmulator>;
}

/** Starts emulators one after the other (the demo: every provider's; a test: the ones it runs); all closed again should one fail. */
export async function startEmulators(starts: readonly EmulatorStart[]): Promise<Emulators> {
  const running = new Map<string, RunningEmulator>();
  const close = () => Promise.all([...running.values()].map((emulator) => emulator.close())).then(() => undefined);
  try {
    for (const { name, start } of starts) running.set(name, await start());
  } catch (error) {
    await close();
    throw error;
  }
  const transports = new Map<string, unknown>();
  for (const [name, emulator] of running) if (emulator.transport !== undefined) transports.set(name, emulator.transport);
  return {
    running,
    env: Object.assign({}, ...[...running.values()].map((emulator) => emulator.env)),
    transports,
    reset: () => {
      for (const emulator of running.values()) emulator.reset();
    },
    close,
  };
}
