/**
 * How many distinct keys one operation has asked for, per budget: what bounds the upstream calls
 * one operation can cost. A key counts once however often it is asked for; a key that was handed over
 * (primed: an expansion came with it) costs nothing and is never counted.
 */
export class KeyBudget {
  private readonly admitted = new Map<string, Set<string>>();

  /** Whether `key` fits in `budget` of `limit` distinct keys; admits it when it does. */
  admit(budget: string, key: string, limit: number): boolean {
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
