/**
 * A long list answered in slices, each in its own turn of the event loop, so that completing it never
 * holds the loop for long (issue 20: 20 requests of 10,000 items each kept `/health` waiting 4.2 s).
 *
 * graphql-js and graphql-jit complete a list's items synchronously once the list is there: 10,000 users of
 * 15 fields are ~160,000 values completed in one go, and when many requests' lists arrive together (one
 * coalesced upstream call answers them all) their completions run back to back before any socket is read.
 * Given here, the first `SLICE` items are answered as they are; every later slice is a promise per item,
 * settled together in a later `setImmediate`, each scheduled by the one before, so that I/O (a health
 * check, other requests) runs between slices. An item that is an error rejects, which both executors answer
 * as that item's error at its own index (`src/execution/list-items.ts` holds graphql-jit to that).
 *
 * Lists of at most `SLICE` items (nearly every request) are returned untouched: no promise, no turn.
 */
export const SLICE = 256;

export function inSlices(items: readonly unknown[]): unknown[] {
  if (items.length <= SLICE) return items as unknown[];
  const answered: unknown[] = items.slice(0, SLICE);
  const pending: Array<{ resolve: (value: unknown) => void; reject: (error: unknown) => void; item: unknown }> = [];
  for (let i = SLICE; i < items.length; i++) {
    const item = items[i];
    answered.push(
      new Promise((resolve, reject) => {
        pending.push({ resolve, reject, item });
      }),
    );
  }
  let next = 0;
  const settleSlice = () => {
    const end = Math.min(next + SLICE, pending.length);
    for (; next < end; next++) {
      const { resolve, reject, item } = pending[next]!;
      if (item instanceof Error) reject(item);
      else resolve(item);
    }
    if (next < pending.length) setImmediate(settleSlice);
  };
  setImmediate(settleSlice);
  return answered;
}
