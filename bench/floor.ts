/**
 * The floor `npm run bench` measures beside the subgraph (docs/benchmarks.md, "The floor"): the least a
 * Node process can do to give the same answer to the same request. It reads the GraphQL request's
 * `variables.ids` (no GraphQL: no parsing, validation or execution of the document), makes the one
 * `GET /2/users` call the subgraph makes for its 15 fields, parses X's body, renames its fields into the
 * subgraph's answer in the order asked (attributed by id), and writes that answer. Nothing is validated,
 * cached, logged, counted, limited or traced.
 *
 * What every Node proxy of X's users must spend at least, then: reading HTTP, a call through undici, one
 * `JSON.parse` of X's body and one `JSON.stringify` of the answer, and the garbage they make. The
 * subgraph's CPU per operation over the floor's, in the same run, is what its GraphQL server, its batching,
 * its cache and its guards cost on top; the floor's over the upstream's is what no Node server avoids.
 *
 * Started by bench/run.ts (`node <npm start's flags> --import tsx bench/floor.ts`) with X_API_BASE_URL and
 * X_BEARER_TOKEN; it prints the subgraph's `users-subgraph ready` line so that it is started the same way.
 */
import { createServer } from 'node:http';
import { Pool } from 'undici';
import { X_USER_FIELDS_15 } from './workload.js';

interface XUser {
  id: string;
  name: string;
  username: string;
  created_at?: string;
  description?: string;
  location?: string;
  url?: string;
  profile_image_url?: string;
  protected?: boolean;
  verified?: boolean;
  verified_type?: string;
  public_metrics?: { followers_count: number };
}

const base = new URL(process.env.X_API_BASE_URL ?? '');
const basePath = base.pathname.replace(/\/$/, '');
const authorization = `Bearer ${process.env.X_BEARER_TOKEN ?? ''}`;
// As many connections as the subgraph's X client may open (X_MAX_CONNECTIONS's default), kept alive.
const pool = new Pool(base.origin, { connections: 32, keepAliveTimeout: 30_000 });

/** The subgraph's XUser for the benchmark's 15 fields, from X's record. */
function user(record: XUser) {
  return {
    id: record.id,
    name: record.name,
    username: record.username,
    displayName: record.name,
    avatarUrl: record.profile_image_url ?? null,
    profileUrl: `https://x.com/${encodeURIComponent(record.username)}`,
    createdAt: record.created_at ?? null,
    description: record.description ?? null,
    location: record.location ?? null,
    url: record.url ?? null,
    profileImageUrl: record.profile_image_url ?? null,
    protected: record.protected ?? null,
    verified: record.verified ?? null,
    verifiedType: record.verified_type ?? null,
    publicMetrics: record.public_metrics ? { followersCount: record.public_metrics.followers_count } : null,
  };
}

async function answer(body: string): Promise<{ status: number; text: string }> {
  const ids = (JSON.parse(body) as { variables: { ids: string[] } }).variables.ids;
  const res = await pool.request({
    method: 'GET',
    path: `${basePath}/2/users?ids=${ids.join(',')}&user.fields=${X_USER_FIELDS_15}`,
    headers: { authorization },
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) return { status: 502, text: JSON.stringify({ errors: [{ message: `X answered ${res.statusCode}` }] }) };
  const byId = new Map<string, XUser>();
  for (const record of (JSON.parse(text) as { data?: XUser[] }).data ?? []) byId.set(record.id, record);
  const xUsers = ids.map((id) => {
    const record = byId.get(id);
    return record === undefined ? null : user(record);
  });
  return { status: 200, text: JSON.stringify({ data: { xUsers } }) };
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    answer(Buffer.concat(chunks).toString('utf8')).then(
      ({ status, text }) => {
        const bytes = Buffer.from(text, 'utf8');
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length });
        res.end(bytes);
      },
      () => {
        res.writeHead(500).end();
      },
    );
  });
});
server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ msg: 'users-subgraph ready', endpoint: `http://127.0.0.1:${port}/graphql` })}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  void pool.close().then(() => process.exit(0));
});
