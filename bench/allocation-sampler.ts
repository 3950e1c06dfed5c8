/**
 * What one operation allocates, and where: V8's sampling heap profiler in the subgraph's process, reached over
 * the inspector protocol (the process runs with `--inspect` on a port given here), keeping every sample
 * whether or not a scavenge or a mark-compact collected its object since. So its total is what the code
 * allocated, not what survived: the volume that sets how often scavenges run, and with the request lifetimes,
 * how much each one promotes. Sites are functions (name, file, line), summed over every stack that ends in them;
 * a built-in's allocations (a `Set` growing in `add`) are named with the function of the project or a package
 * that called it.
 *
 * Used by bench/promotion.ts (`npm run bench:promotion`): after a shape's promotion is measured, the same
 * subgraph is sent `operations` more of it, one at a time, while sampling.
 */
import { WebSocket } from 'undici';

export interface AllocationSite {
  /** `function file:line` (file: the last two parts of its path; line 1-based, of the built JS). */
  site: string;
  kibPerOp: number;
}

export interface AllocationProfile {
  kibPerOp: number;
  /** The largest sites, largest first. */
  sites: AllocationSite[];
}

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

/** The inspector's one target on `port`, as a function sending a CDP command and resolving its result. */
async function inspector(port: number): Promise<{ send: (method: string, params?: object) => Promise<unknown>; close: () => void }> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve());
    socket.addEventListener('error', () => reject(new Error(`no inspector on port ${port}`)));
  });
  let sequence = 0;
  const waiting = new Map<number, (result: unknown) => void>();
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) waiting.get(message.id)?.(message.result);
    if (message.id !== undefined) waiting.delete(message.id);
  });
  return {
    send: (method, params = {}) =>
      new Promise((resolve) => {
        const id = ++sequence;
        waiting.set(id, resolve);
        socket.send(JSON.stringify({ id, method, params }));
      }),
    close: () => socket.close(),
  };
}

/**
 * Samples the heap of the process inspected on `port` while `operations` calls of `operation` run one after
 * another; resolves the bytes allocated per operation, in total and by the `top` largest sites.
 */
export async function sampleAllocations(
  port: number,
  operations: number,
  operation: () => Promise<void>,
  top = 12,
): Promise<AllocationProfile> {
  const cdp = await inspector(port);
  try {
    await cdp.send('HeapProfiler.enable');
    // One sample per 1 KiB allocated on average (V8's default is 32 KiB): enough for sites of a few KiB per operation.
    await cdp.send('HeapProfiler.startSampling', {
      samplingInterval: 1024,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    for (let i = 0; i < operations; i++) await operation();
    const { profile } = (await cdp.send('HeapProfiler.stopSampling')) as { profile: { head: SamplingNode } };
    const bySite = new Map<string, number>();
    let total = 0;
    // A built-in (Set.prototype.add, Map.prototype.set: no file) is named with its caller, which is what can change.
    const nameOf = ({ functionName, url, lineNumber }: SamplingNode['callFrame']) =>
      `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
    const walk = (node: SamplingNode, caller: string) => {
      const own = nameOf(node.callFrame);
      const site = node.callFrame.url === '' && caller !== '' ? `${node.callFrame.functionName || '(anonymous)'} in ${caller}` : own;
      if (node.selfSize > 0) {
        bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
        total += node.selfSize;
      }
      for (const child of node.children) walk(child, node.callFrame.url === '' ? caller : own);
    };
    walk(profile.head, '');
    const sites = [...bySite]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([site, bytes]) => ({ site, kibPerOp: bytes / 1024 / operations }));
    return { kibPerOp: total / 1024 / operations, sites };
  } finally {
    cdp.close();
  }
}
