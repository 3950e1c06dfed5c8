import type { Env, RunningEmulator } from '../providers/provider.js';
import { providers } from '../providers/registry.js';

/** Every provider's emulator, running: what the demo serves and what the tests drive. */
export interface Emulators {
  /** By provider name. */
  running: ReadonlyMap<string, RunningEmulator<unknown>>;
  /** Every provider's variables that point it at its emulator, merged. */
  env: Env;
  /** Transports of the emulators that do not speak over the network, by provider name. */
  transports: ReadonlyMap<string, unknown>;
  reset(): void;
  close(): Promise<void>;
}

/**
 * Starts the emulator of every provider in the registry (each loaded by dynamic import, so production
 * code never loads one). `options` are each emulator's own, by provider name (tests).
 */
export async function startEmulators(mode: 'demo' | 'test', options: Readonly<Record<string, unknown>> = {}): Promise<Emulators> {
  const running = new Map<string, RunningEmulator<unknown>>();
  const close = () => Promise.all([...running.values()].map((emulator) => emulator.close())).then(() => undefined);
  try {
    for (const provider of providers) {
      const module = await provider.emulator();
      running.set(provider.id.name, await module.start(mode, options[provider.id.name] as never));
    }
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
