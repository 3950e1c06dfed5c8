/**
 * The Zipf workload of `npm run bench:zipf` and of `npm run bench`'s warm scenario: operations asking
 * 1–10 X users each, drawn from a Zipf distribution (s = 1) over 5,000 ids, as real traffic repeats its
 * popular users. Seeded, so that two runs send the same mix.
 */
export const UNIVERSE = 5_000;

/** Deterministic choices in [0, 1). */
export function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}

/** Id k (1..UNIVERSE) is drawn with probability proportional to 1/k. */
const cdf = (() => {
  const weights = Array.from({ length: UNIVERSE }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  let sum = 0;
  return weights.map((w) => (sum += w / total));
})();

export function zipfId(random: () => number): string {
  const u = random();
  let low = 0;
  let high = cdf.length - 1;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (cdf[mid]! < u) low = mid + 1;
    else high = mid;
  }
  return String(low + 1);
}

/** One operation's ids: 1–10 of them (repeats possible, as a real client's list may have). */
export function zipfIds(random: () => number): string[] {
  const count = 1 + Math.floor(random() * 10);
  return Array.from({ length: count }, () => zipfId(random));
}
