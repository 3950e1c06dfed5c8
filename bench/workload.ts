/**
 * What the benchmarks send, shared so that the subgraph, the floor and the upstream's own calls are asked the
 * same thing and timed the same way: the 15-field selection and the `user.fields` it becomes on X's wire, and
 * the open loop (`bench/run.ts`, `bench/tail.ts`).
 */

/** 15 leaf fields; X's user.fields: created_at, description, location, url, profile_image_url, protected, verified, verified_type, public_metrics. */
export const FIELDS_15 =
  'id name username displayName avatarUrl profileUrl createdAt description location url profileImageUrl protected verified verifiedType publicMetrics { followersCount }';

/** The `user.fields` the subgraph asks X for FIELDS_15 (id, name and username always come). */
export const X_USER_FIELDS_15 = 'created_at,description,location,profile_image_url,protected,public_metrics,url,verified,verified_type';

/** One operation of an open loop: when it was due and when its answer was read (ms since the epoch), and whether it was whole. */
export interface Timed {
  due: number;
  end: number;
  ok: boolean;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The `q` quantile of ascending `sorted`; NaN when empty. */
export const quantile = (sorted: readonly number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

/**
 * Open loop: operation `i` every 1/rate s whatever the answers do, each timed from when it was due (so a stall
 * counts against every operation it delays), for `seconds` after a warm-up second. Resolves the measured
 * operations and how many were sent, warm-up included.
 */
export async function openLoop(
  rate: number,
  seconds: number,
  operation: (i: number) => Promise<boolean>,
): Promise<{ timed: Timed[]; sent: number }> {
  const timed: Timed[] = [];
  const pending: Promise<void>[] = [];
  const start = performance.now();
  const measureFrom = start + 1_000;
  const end = measureFrom + seconds * 1000;
  for (let i = 0; ; i++) {
    const due = start + (i * 1000) / rate;
    if (due >= end) break;
    const ahead = due - performance.now();
    if (ahead > 1) await sleep(ahead);
    pending.push(
      operation(i).then((ok) => {
        if (due >= measureFrom) timed.push({ due: performance.timeOrigin + due, end: performance.timeOrigin + performance.now(), ok });
      }),
    );
  }
  await Promise.all(pending);
  return { timed, sent: pending.length };
}
