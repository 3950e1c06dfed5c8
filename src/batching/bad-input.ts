import { ProviderError } from '../core/errors.js';

/**
 * One request's bad key must not fail another's (issue 20): keys are checked before any call, but an
 * upstream may still refuse a call's input as a whole (a 400 that names no key). Then the call is split
 * in halves and each half asked again, down to the one key it refuses: the good keys answer, the bad one
 * alone answers BAD_USER_INPUT, and it is remembered for a while (`BadKeys`) so that it cannot be replayed
 * into other requests' calls. A key in k calls of n keys costs at most 2·log2(n) more calls, once.
 */
export async function isolatingBadInput(
  keys: readonly string[],
  fetch: (keys: readonly string[]) => Promise<Map<string, unknown>>,
  /** Whether the caller has gone: then nothing more is asked. */
  abandoned: () => boolean,
  /** A key the upstream refused alone. */
  onBad: (key: string, error: ProviderError) => void,
): Promise<Map<string, unknown>> {
  try {
    return await fetch(keys);
  } catch (error) {
    if (!(error instanceof ProviderError) || error.code !== 'BAD_USER_INPUT' || abandoned()) throw error;
    if (keys.length === 1) {
      const key = keys[0]!;
      const refused = error.forId(key);
      onBad(key, refused);
      return new Map([[key, refused]]);
    }
    const half = Math.ceil(keys.length / 2);
    const halves = await Promise.allSettled([
      isolatingBadInput(keys.slice(0, half), fetch, abandoned, onBad),
      isolatingBadInput(keys.slice(half), fetch, abandoned, onBad),
    ]);
    const answers = new Map<string, unknown>();
    halves.forEach((outcome, i) => {
      const part = i === 0 ? keys.slice(0, half) : keys.slice(half);
      if (outcome.status === 'fulfilled') for (const [key, value] of outcome.value) answers.set(key, value);
      // Another failure of one half (an outage meanwhile) answers that half's keys with it.
      else for (const key of part) answers.set(key, outcome.reason instanceof ProviderError ? outcome.reason.forId(key) : outcome.reason);
    });
    return answers;
  }
}

/** How long a key an upstream refused alone is answered BAD_USER_INPUT without a call. */
export const BAD_KEY_MEMORY_MS = 10 * 60_000;
/** Keys remembered at most (the oldest forgotten first). */
const MAX_BAD_KEYS = 10_000;

/** Keys an upstream refused alone, per lookup, for BAD_KEY_MEMORY_MS on `now`'s clock. */
export class BadKeys {
  private readonly refused = new Map<string, { until: number; error: ProviderError }>();

  constructor(private readonly now: () => number) {}

  remember(lookup: string, key: string, error: ProviderError): void {
    const id = `${lookup}\u0000${key}`;
    this.refused.delete(id);
    if (this.refused.size >= MAX_BAD_KEYS) this.refused.delete(this.refused.keys().next().value!);
    this.refused.set(id, { until: this.now() + BAD_KEY_MEMORY_MS, error });
  }

  /** The refusal a key earned, while it is remembered. */
  refusal(lookup: string, key: string): ProviderError | undefined {
    // Every key of every request passes here: nothing is built for it while nothing is remembered.
    if (this.refused.size === 0) return undefined;
    const id = `${lookup}\u0000${key}`;
    const entry = this.refused.get(id);
    if (entry === undefined) return undefined;
    if (entry.until > this.now()) return entry.error;
    this.refused.delete(id);
    return undefined;
  }
}
