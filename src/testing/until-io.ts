/**
 * Resolves once `predicate` holds, checking after each turn of the event loop, in which real I/O (a Redis
 * reply) may land. What it waits for is I/O, so what bounds it is time: a count of turns was a race, since a
 * loaded machine (a CI run of every project at once, a Cluster answering across nodes) spends many more turns
 * idle before a reply comes. It gives up after `giveUpAfterMs` of real time, as a failure, never as a verdict.
 */
export async function untilIo(predicate: () => boolean, giveUpAfterMs = 10_000): Promise<void> {
  const giveUpAt = performance.now() + giveUpAfterMs;
  while (!predicate()) {
    if (performance.now() > giveUpAt) throw new Error(`never happened within ${giveUpAfterMs} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
