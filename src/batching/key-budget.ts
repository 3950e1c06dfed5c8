import { ProviderError } from '../core/errors.js';
import type { KeyCeiling, Lookup } from '../core/lookup.js';
import type { ProviderId } from '../core/types.js';

/**
 * What bounds the upstream calls one operation can cost (docs/limits.md, "Limits"): the distinct keys it asks of
 * each provider, per credential scope and partition, at most MAX_IDS_PER_OPERATION, and at most a
 * lookup's own ceiling for the fields asked (one upstream call per key, for example). Counted after
 * GraphQL coerced the key (default values and a scalar given for a list included), where it is used.
 *
 * Distinct keys are what cost upstream calls: a key asked again, however often (a gateway's
 * representations of the same author), costs nothing and counts once, and a key handed over by another
 * lookup's answer (primed: an expansion came with it) costs nothing and is never counted. A key beyond
 * fails alone with BAD_USER_INPUT, and the rest of the operation stands: what a gateway can pass on,
 * unlike a refused request.
 */
export class OperationKeys {
  private readonly admitted = new Map<string, Set<string>>();
  /** Keys handed to a lookup by another one's answer (`lookup\0partition\0key`). */
  private readonly primed = new Set<string>();

  constructor(
    /** MAX_IDS_PER_OPERATION. */
    private readonly maxPerProvider: number,
  ) {}

  /**
   * Counts `key` of `lookup` in `partition` under credential `scope`; `own` is the lookup's ceiling for the
   * operation's fields, if it has one. The error to answer `key` with when it is one too many.
   */
  admit(lookup: Lookup<unknown>, key: string, partition: string, scope: string, own: KeyCeiling | undefined): ProviderError | undefined {
    const normalized = lookup.key.normalize?.(key) ?? key;
    if (this.primed.has(`${lookup.name}\0${partition}\0${normalized}`)) return undefined;
    const { provider } = lookup;
    const limit = this.maxPerProvider;
    if (!this.take(`${provider.name}\0${scope}\0${partition}`, `${lookup.name}\0${normalized}`, limit)) {
      return overLimit(provider, key, {
        variable: 'MAX_IDS_PER_OPERATION',
        max: limit,
        why: `at most ${limit} distinct ids per provider in one operation (MAX_IDS_PER_OPERATION)`,
      });
    }
    if (own !== undefined && !this.take(`${provider.name}\0${scope}\0${partition}\0${lookup.name}`, normalized, own.max)) {
      return overLimit(provider, key, own);
    }
    return undefined;
  }

  /** `key` of `lookup` came with another lookup's answer: loading it costs no call, and it is never counted. */
  prime(lookup: Lookup<unknown>, key: string, partition: string): void {
    this.primed.add(`${lookup.name}\0${partition}\0${lookup.key.normalize?.(key) ?? key}`);
  }

  /** Whether `key` fits in `budget` of `limit` distinct keys; admits it when it does. */
  private take(budget: string, key: string, limit: number): boolean {
    let keys = this.admitted.get(budget);
    if (keys === undefined) {
      keys = new Set();
      this.admitted.set(budget, keys);
    }
    if (keys.has(key)) return true;
    if (keys.size >= limit) return false;
    keys.add(key);
    return true;
  }
}

/** As every limit answers: `extensions.limit` names the variable, `extensions.max` gives its value. */
function overLimit(provider: ProviderId, key: string, ceiling: KeyCeiling): ProviderError {
  return new ProviderError(
    { code: 'BAD_USER_INPUT', provider, id: key },
    `${provider.label}: ${JSON.stringify(key)} was not looked up: ${ceiling.why}`,
    { limit: ceiling.variable, max: ceiling.max },
  );
}
