import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

/**
 * The explorer a browser gets at `/graphql` or `/` (docs/operations.md, "Explorer"): GraphiQL with its whole bundle
 * inlined in the page (`@graphql-yoga/render-graphiql`: scripts, styles, fonts, Monaco's workers as
 * blobs), so it works with no network beyond this server; Apollo Sandbox (loaded from Apollo's CDN,
 * served by Apollo Server's landing page plugin); or none.
 */
export type Explorer = 'graphiql' | 'sandbox' | 'off';

/** The operation the explorer opens with: the README's first example, and users of the other providers. */
export const EXAMPLE_OPERATION = `# Users of every provider in one operation; each provider gets one upstream call.
# In the demo every provider knows the ids 1-10000; 99999 shows a NOT_FOUND at ["xUsers", 2].
# Run it with Ctrl-Enter or the play button.
query SeveralProviders {
  xUsers(ids: ["1", "2", "99999"]) {
    id
    username
    name
    publicMetrics {
      followersCount
    }
    pinnedTweet {
      text
      author {
        username
      }
    }
  }
  telegramUsers(ids: ["1"], usernames: ["tg_user2"]) {
    id
    username
    displayName
  }
  bitrix24Users(ids: ["1", "2"]) {
    portal
    id
    name
    workPosition
  }
  nexudusUsers(ids: ["1"]) {
    id
    fullName
  }
}
`;

/** Media types a GraphQL client asks for; the page is for a request that prefers `text/html` to all of them. */
const GRAPHQL_TYPES = new Set(['application/json', 'application/graphql-response+json', 'multipart/mixed']);

/**
 * Whether a request is a browser asking for a page, as Apollo Server decides for its landing page: a GET
 * whose `Accept` names `text/html` ahead of every GraphQL response type (by `q`, then by order). A
 * GraphQL client's GET (`application/json`, a wildcard, or no `Accept`) is not.
 */
export function prefersHtml(method: string | undefined, accept: string | undefined): boolean {
  if (method !== 'GET' || !accept) return false;
  const ranges = accept.split(',').map((part, index) => {
    const [type = '', ...params] = part.split(';').map((piece) => piece.trim().toLowerCase());
    const q = params.find((param) => param.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    return { type, q: Number.isFinite(weight) ? weight : 0, index };
  });
  const html = ranges.find((range) => range.type === 'text/html' && range.q > 0);
  if (html === undefined) return false;
  return !ranges.some((range) => GRAPHQL_TYPES.has(range.type) && (range.q > html.q || (range.q === html.q && range.index < html.index)));
}

/**
 * Only this origin: what the page loads and where it may connect (GraphiQL posts to `/graphql`). Inline
 * scripts and styles are the bundle itself; Monaco runs its workers from blobs and compiles with eval.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:",
  "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self' data:",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

interface RenderedPage {
  html: Buffer;
  gzipped: Buffer;
  etag: string;
}

/** The GraphiQL page (about 9 MB, 2.4 MB gzipped), rendered once and kept. */
let rendered: Promise<RenderedPage> | undefined;

function graphiqlPage(): Promise<RenderedPage> {
  rendered ??= (async () => {
    // Loaded on the first page asked for: its 9 MB of strings stay out of a process that serves none.
    const { renderGraphiQL } = await import('@graphql-yoga/render-graphiql');
    const text = renderGraphiQL({
      title: 'users-subgraph · GraphiQL',
      endpoint: '/graphql',
      method: 'POST',
      defaultQuery: EXAMPLE_OPERATION,
      headers: '{}',
      shouldPersistHeaders: false,
    });
    const html = Buffer.from(text, 'utf8');
    const gzipped = await promisify(gzip)(html);
    const etag = `"${createHash('sha256').update(html).digest('base64url').slice(0, 27)}"`;
    return { html, gzipped, etag };
  })();
  rendered.catch(() => {
    rendered = undefined; // a failed render is tried again on the next request
  });
  return rendered;
}

/** Answers a browser's GET with the GraphiQL page: gzipped when accepted, 304 when the browser has it. */
export async function serveGraphiQL(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const page = await graphiqlPage();
  const headers: Record<string, string> = {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-cache',
    etag: page.etag,
    vary: 'accept, accept-encoding',
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
  if (req.headers['if-none-match'] === page.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const gzipOk = /\bgzip\b/i.test(req.headers['accept-encoding'] ?? '');
  const body = gzipOk ? page.gzipped : page.html;
  if (gzipOk) headers['content-encoding'] = 'gzip';
  headers['content-length'] = String(body.length);
  res.writeHead(200, headers);
  res.end(body);
}
