/**
 * Soak (docs/contributing.md, "Soak"): N minutes of mixed load on the embedded demo, run as `npm start` runs it, with
 * the subgraph's memory sampled all along. It reports the slope of RSS over the run (what a leak shows
 * as), the answers by code, and what the emulated upstreams were asked. Not part of `npm test`.
 *
 *   npm run soak                     # 10 minutes, 8 clients
 *   SOAK_MINUTES=2 SOAK_CLIENTS=4 npm run soak
 *
 * The load mixes what a supergraph sends (root fields of every provider, `_entities` batches,
 * expansions) with what a hostile client sends (malformed and injected ids, fragment bombs, alias
 * floods) and clients that give up before the answer.
 */
import { execFileSync } from 'node:child_process';
import { root, rssMiB, startSubgraph } from './processes.js';

const minutes = Number(process.env.SOAK_MINUTES ?? 10);
const clients = Number(process.env.SOAK_CLIENTS ?? 8);
const sampleEveryMs = 5_000;

/** Deterministic choices, so two runs send the same mix. */
let seed = 20261123;
const random = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const ids = (n: number, max = 10_500) => Array.from({ length: n }, () => String(1 + Math.floor(random() * max)));

function bomb(levels: number): string {
  let fragments = 'fragment F0 on XUser { id name }\n';
  for (let i = 1; i <= levels; i++)
    fragments += `fragment F${i} on XUser { a: pinnedTweet { author { ...F${i - 1} } } b: mostRecentTweet { author { ...F${i - 1} } } }\n`;
  return `{ xUsers(ids: ["1"]) { ...F${levels} } }\n${fragments}`;
}

/** One operation of the mix: its body, and whether its client gives up before the answer. */
function nextOperation(): { body: unknown; abandonAfterMs?: number } {
  const kind = random();
  if (kind < 0.3) {
    // Nexudus allows 120 calls a minute and a Bitrix24 portal 2 a second: they are in some operations
    // only, about their share of real traffic, so that the soak loads the subgraph, not their pacers.
    const withNexudus = random() < 0.2;
    const bitrix24 = random() < 0.3 ? 'bitrix24Users(ids: $b) { id name }' : '';
    const nexudus = withNexudus ? 'nexudusUsers(ids: $n) { id fullName email }' : '';
    return {
      body: {
        query: `query($x: [ID!]!, $t: [ID!]!${bitrix24 ? ', $b: [ID!]!' : ''}${withNexudus ? ', $n: [ID!]!' : ''}) { xUsers(ids: $x) { id username publicMetrics { followersCount } pinnedTweet { text author { id } } } telegramUsers(ids: $t) { id username status { presence } } ${bitrix24} ${nexudus} }`,
        variables: {
          x: ids(1 + Math.floor(random() * 100)),
          t: ids(1 + Math.floor(random() * 50)),
          ...(bitrix24 ? { b: ids(1 + Math.floor(random() * 80)) } : {}),
          ...(withNexudus ? { n: ids(1 + Math.floor(random() * 30)) } : {}),
        },
      },
    };
  }
  if (kind < 0.55) {
    const representations = [
      ...ids(60).map((id) => ({ __typename: 'XUser', id })),
      ...ids(30).map((id) => ({ __typename: 'TelegramUser', id })),
      ...(random() < 0.3 ? ids(30).map((id) => ({ __typename: 'Bitrix24User', portal: 'demo.bitrix24.local', id })) : []),
      ...(random() < 0.2 ? ids(20).map((id) => ({ __typename: 'NexudusUser', id })) : []),
    ];
    return {
      body: {
        query: 'query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on ExternalUser { id displayName } } }',
        variables: { r: representations },
      },
    };
  }
  if (kind < 0.7) {
    const hostile = ['1&user.fields=x', '../admin', '-1', 'x', '1e3', ''];
    return {
      body: {
        query: `query($v: [ID!]! = ${JSON.stringify([pick(hostile), ...ids(3)])}) { xUsers(ids: $v) { id } telegramUsers(ids: $v) { id } }`,
      },
    };
  }
  if (kind < 0.78) return { body: { query: bomb(10 + Math.floor(random() * 10)) } };
  if (kind < 0.83) return { body: { query: `{ ${Array.from({ length: 200 }, (_, i) => `a${i}: _service { sdl }`).join(' ')} }` } };
  if (kind < 0.86) {
    // A client that gives up: full records cost one paced call each.
    return {
      body: { query: 'query($n: [ID!]!) { nexudusUsers(ids: $n) { id isAdmin } }', variables: { n: ids(40) } },
      abandonAfterMs: 100 + Math.floor(random() * 900),
    };
  }
  return {
    body: {
      query: 'query($u: [String!]!) { xUsersByUsername(usernames: $u) { id } telegramUsers(usernames: $u) { id } }',
      variables: { u: ids(20).map((id) => `tg_user${id}`) },
    },
  };
}

/** Least-squares slope of (t, y): MiB per minute when t is in minutes. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mean = (f: (p: [number, number]) => number) => points.reduce((sum, p) => sum + f(p), 0) / n;
  const mt = mean((p) => p[0]);
  const my = mean((p) => p[1]);
  const covariance = mean((p) => (p[0] - mt) * (p[1] - my));
  const variance = mean((p) => (p[0] - mt) ** 2);
  return variance === 0 ? 0 : covariance / variance;
}

async function main(): Promise<void> {
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  // The demo (no provider configured), as `npm start` runs it.
  const { child, origin, path } = await startSubgraph({});
  const endpoint = `${origin}${path}`;
  const pid = child.pid!;
  const started = performance.now();
  const until = started + minutes * 60_000;
  const samples: Array<[number, number]> = [];
  const codes = new Map<string, number>();
  const statuses = new Map<number | string, number>();
  let operations = 0;
  const count = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1);

  const sampler = setInterval(() => samples.push([(performance.now() - started) / 60_000, rssMiB(pid)]), sampleEveryMs);
  samples.push([0, rssMiB(pid)]);
  const worker = async () => {
    while (performance.now() < until) {
      const { body, abandonAfterMs } = nextOperation();
      const controller = new AbortController();
      const timer = abandonAfterMs === undefined ? undefined : setTimeout(() => controller.abort(), abandonAfterMs);
      operations++;
      try {
        const res = await fetch(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: controller.signal,
        });
        count(statuses, res.status);
        const answer = (await res.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
        for (const error of answer.errors ?? []) count(codes, error.extensions?.code ?? '(none)');
      } catch {
        count(statuses, controller.signal.aborted ? 'abandoned by the client' : 'failed');
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, worker));
  clearInterval(sampler);
  samples.push([(performance.now() - started) / 60_000, rssMiB(pid)]);
  const metrics = await (await fetch(endpoint.replace(/\/graphql$/, '/metrics'))).text();
  child.kill('SIGTERM');

  const upstream = new Map<string, number>();
  for (const [, provider, status, value] of metrics.matchAll(
    /^users_subgraph_upstream_requests_total\{provider="(\w+)",method="[^"]*",status="(\w+)"\} (\d+)/gm,
  )) {
    upstream.set(`${provider} ${status}`, (upstream.get(`${provider} ${status}`) ?? 0) + Number(value));
  }
  // The first minute is the heap settling to its working size; the slope that tells a leak is after it.
  const settled = samples.filter(([t]) => t >= Math.min(1, minutes / 4));
  const rss = samples.map(([, mib]) => mib);
  console.log(`\nsoak: ${minutes} min, ${clients} clients, ${operations} operations`);
  console.log(
    `RSS MiB: start ${rss[0]!.toFixed(0)}, min ${Math.min(...rss).toFixed(0)}, max ${Math.max(...rss).toFixed(0)}, end ${rss.at(-1)!.toFixed(0)}`,
  );
  console.log(
    `RSS slope after the first ${Math.min(1, minutes / 4)} min: ${slope(settled).toFixed(2)} MiB/min (over the whole run: ${slope(samples).toFixed(2)})`,
  );
  console.log('HTTP statuses:', Object.fromEntries(statuses));
  console.log('error codes:', Object.fromEntries([...codes].sort((a, b) => b[1] - a[1])));
  console.log('upstream requests by provider and status:', Object.fromEntries([...upstream].sort()));
  console.log(`RSS samples (minute, MiB): ${samples.map(([t, mib]) => `${t.toFixed(1)}:${mib.toFixed(0)}`).join(' ')}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
