import { type DirectiveNode, Kind, parse, visit } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph, fetchSubgraphSdl, startApolloGateway, startHiveGateway } from '../support/gateways.js';
import { type Harness, startHarness } from '../support/harness.js';
import { type StartedSubgraph, startPostsSubgraph } from '../support/posts-subgraph.js';

/**
 * The composition matrix (docs/supergraph.md), measured: for AUTH_DIRECTIVES_IN_SDL unset and `1`, the
 * users subgraph and a posts subgraph with its own `User` type and `Provider` enum are composed from what
 * they serve as `_service { sdl }`, and each gateway this machine can run is started on it:
 *
 * - `@apollo/gateway` with `IntrospectAndCompose` (no script in between): loads and serves, or refuses;
 * - Hive Gateway on the supergraph `composeServices` makes of both SDLs (what rover or Hive's registry does);
 * - a self-hosted Apollo Router without GraphOS: no router binary here, so the supergraph is checked
 *   against the schema features the Router runs only with a GraphOS license (its license enforcement,
 *   `apollo-router/src/uplink/license_enforcement.rs`, `schema_restrictions`).
 *
 * Either way the subgraph enforces access itself: with AUTH_PERSONAL_DATA=protected and no way to
 * authenticate, `NexudusUser.email` is refused to an anonymous caller through every gateway that serves.
 */

/** A field every gateway serves and one the subgraph protects (`@requiresScopes users:personal`). */
const QUERY = /* GraphQL */ `
  {
    posts(count: 2) {
      id
      createdBy { id name }
      source
      nexudusMember { id fullName email }
    }
  }
`;

/** What `QUERY` answers an anonymous caller: the posts subgraph's own fields, Nexudus's open ones, and `email` refused. */
const ANSWER = [
  {
    id: 'p1',
    createdBy: { id: 'staff-1', name: 'Staff Member 1' },
    source: 'GITHUB',
    nexudusMember: { id: '1', fullName: 'Demo User 1', email: null },
  },
  {
    id: 'p2',
    createdBy: { id: 'staff-2', name: 'Staff Member 2' },
    source: 'GOOGLE',
    nexudusMember: { id: '2', fullName: 'Demo User 2', email: null },
  },
];

/** The access directives, by the names the subgraph SDL may give them. */
const ACCESS = new Set(['authenticated', 'requiresScopes', 'federation__authenticated', 'federation__requiresScopes']);

/**
 * The schema features of a supergraph a self-hosted Router refuses without a GraphOS license: specs linked
 * in the schema (`authenticated`, `requiresScopes` and `context` v0.1, any `connect`), and the join spec's
 * `@join__field(overrideLabel:)` and `(contextArguments:)`. Mirrors the Router's `schema_restrictions`.
 */
function licensedFeatures(supergraphSdl: string): string[] {
  const found = new Set<string>();
  const restrictedSpecs = [
    /^https:\/\/specs\.apollo\.dev\/(authenticated)\/v0\.1$/,
    /^https:\/\/specs\.apollo\.dev\/(requiresScopes)\/v0\.1$/,
    /^https:\/\/specs\.apollo\.dev\/(context)\/v0\.1$/,
    /^https:\/\/specs\.apollo\.dev\/(connect)\/v\d+\.\d+$/,
  ];
  visit(parse(supergraphSdl), {
    Directive(node: DirectiveNode) {
      if (node.name.value === 'link') {
        const url = node.arguments?.find((a) => a.name.value === 'url')?.value;
        if (url?.kind !== Kind.STRING) return;
        for (const spec of restrictedSpecs) {
          const match = url.value.match(spec);
          if (match) found.add(match[1]!);
        }
      }
      if (node.name.value === 'join__field') {
        for (const argument of node.arguments ?? []) {
          if (argument.name.value === 'overrideLabel' || argument.name.value === 'contextArguments')
            found.add(`join__field(${argument.name.value}:)`);
        }
      }
    },
  });
  return [...found].sort();
}

/** The access directives used in an SDL, and those its `@link`s import. */
function accessDirectivesOf(sdl: string): { used: string[]; imported: string[] } {
  const used = new Set<string>();
  const imported = new Set<string>();
  visit(parse(sdl), {
    Directive(node) {
      if (ACCESS.has(node.name.value)) used.add(node.name.value);
      if (node.name.value !== 'link') return;
      for (const argument of node.arguments ?? []) {
        if (argument.name.value !== 'import' || argument.value.kind !== Kind.LIST) continue;
        for (const value of argument.value.values) {
          if (value.kind === Kind.STRING && ACCESS.has(value.value.replace(/^@/, ''))) imported.add(value.value);
        }
      }
    },
  });
  return { used: [...used].sort(), imported: [...imported].sort() };
}

/** The refusal every gateway must pass on from the subgraph: `email`, for an anonymous caller, at each post. */
function expectEmailRefused(errors: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, any> }> = []) {
  expect(errors).toHaveLength(2);
  for (const error of errors) {
    expect(error.extensions).toMatchObject({ code: 'UNAUTHENTICATED', field: 'NexudusUser.email' });
    // The subgraph's own message: it names the variables that would let it serve the field.
    expect(error.message).toMatch(/^NexudusUser\.email requires an authenticated caller with scope users:personal.*AUTH_SHARED_SECRET/);
    expect(error.path?.slice(0, 1).concat(error.path.slice(2))).toEqual(['posts', 'nexudusMember', 'email']);
  }
}

describe.each([
  { setting: 'unset (the default)', env: {} as Record<string, string>, inSdl: false },
  { setting: '1', env: { AUTH_DIRECTIVES_IN_SDL: '1' }, inSdl: true },
])('AUTH_DIRECTIVES_IN_SDL $setting', ({ env, inSdl }) => {
  let h: Harness;
  let posts: StartedSubgraph;
  let subgraphs: { usersUrl: string; postsUrl: string };

  beforeAll(async () => {
    // No way to authenticate and personal data protected: an anonymous caller is refused `email` (docs/access-control.md).
    h = await startHarness({ env: { AUTH_PERSONAL_DATA: 'protected', ...env } });
    posts = await startPostsSubgraph('portal-a');
    subgraphs = { usersUrl: `${h.url}/graphql`, postsUrl: posts.url };
  });

  afterAll(async () => {
    await posts?.server.stop();
    await h?.close();
  });

  it(`_service { sdl } ${inSdl ? 'carries' : 'leaves out'} @authenticated and @requiresScopes (uses and @link imports)`, async () => {
    const sdl = await fetchSubgraphSdl(subgraphs.usersUrl);
    expect(accessDirectivesOf(sdl)).toEqual(
      inSdl ? { used: ['authenticated', 'requiresScopes'], imported: ['@authenticated', '@requiresScopes'] } : { used: [], imported: [] },
    );
    // The rest of the schema is there either way.
    expect(sdl).toMatch(/type NexudusUser implements ExternalUser/);
    expect(sdl).toMatch(/\n\s+email: String\b/);
  });

  it(`@apollo/gateway (IntrospectAndCompose): ${inSdl ? 'refuses to load the supergraph' : 'loads, serves both subgraphs, and the subgraph refuses email'}`, async () => {
    if (inSdl) {
      const refused = startApolloGateway(subgraphs);
      await expect(refused).rejects.toThrow('feature https://specs.apollo.dev/authenticated/v0.1 is for: SECURITY but is unsupported');
      await expect(refused).rejects.toThrow('feature https://specs.apollo.dev/requiresScopes/v0.1 is for: SECURITY but is unsupported');
      return;
    }
    const gateway = await startApolloGateway(subgraphs);
    try {
      const { status, body } = await gateway.query(QUERY);
      expect(status).toBe(200);
      expect(body.data.posts).toEqual(ANSWER);
      expectEmailRefused(body.errors);
      expect(body.errors!.map((e) => [e.path, e.extensions?.serviceName])).toEqual([
        [['posts', 0, 'nexudusMember', 'email'], 'users'],
        [['posts', 1, 'nexudusMember', 'email'], 'users'],
      ]);
    } finally {
      await gateway.close();
    }
  });

  it('Hive Gateway (supergraph from both live SDLs): serves both subgraphs, and the subgraph refuses email', async () => {
    const gateway = await startHiveGateway(subgraphs);
    try {
      const { status, body } = await gateway.query(QUERY);
      expect(status).toBe(200);
      expect(body.data.posts).toEqual(ANSWER);
      // Hive Gateway does not enforce the directives itself: the refusal is the subgraph's, either way.
      expectEmailRefused(body.errors);
      const toUsers = gateway.calls.filter((c) => c.subgraph === 'users');
      expect(toUsers.map((c) => c.body.errors?.map((e) => e.extensions?.code))).toEqual([['UNAUTHENTICATED', 'UNAUTHENTICATED']]);
    } finally {
      await gateway.close();
    }
  });

  it(`a self-hosted Router without GraphOS: the supergraph ${inSdl ? 'links authenticated and requiresScopes (licensed: it refuses to start)' : 'links no licensed feature (it starts)'}`, async () => {
    const supergraphSdl = await composeSupergraph(subgraphs);
    expect(licensedFeatures(supergraphSdl)).toEqual(inSdl ? ['authenticated', 'requiresScopes'] : []);
    const links = [...supergraphSdl.matchAll(/@link\(url: "([^"]+)"(?:, for: (\w+))?/g)].map((m) => [m[1], m[2] ?? null]);
    expect(links).toEqual([
      ['https://specs.apollo.dev/link/v1.0', null],
      ['https://specs.apollo.dev/join/v0.4', 'EXECUTION'],
      ...(inSdl
        ? [
            ['https://specs.apollo.dev/authenticated/v0.1', 'SECURITY'],
            ['https://specs.apollo.dev/requiresScopes/v0.1', 'SECURITY'],
          ]
        : []),
    ]);
    // With them, the rules are in the supergraph for a Router with GraphOS to enforce.
    if (inSdl)
      expect(supergraphSdl).toMatch(/\n\s+email: String @join__field\(graph: USERS\) @requiresScopes\(scopes: \[\["users:personal"\]\]\)/);
    else expect(supergraphSdl).toMatch(/\n\s+email: String @join__field\(graph: USERS\)\n/);
    // The posts subgraph's own User and Provider compose beside the users subgraph's types.
    expect(supergraphSdl).toMatch(/\ntype User\b[^{]*@join__type\(graph: POSTS, key: "id"\)/);
    expect(supergraphSdl).toMatch(/\nenum Provider\b/);
    expect(supergraphSdl).toMatch(/\nenum ExternalUserProvider\b/);
    expect(supergraphSdl).toMatch(/\ninterface ExternalUser\b/);
  });

  it('the subgraph refuses email to an anonymous caller when reached directly, too', async () => {
    const { status, body } = await h.gql('{ nexudusUsers(ids: ["1"]) { id fullName email } }');
    expect(status).toBe(200);
    expect(body.data).toEqual({ nexudusUsers: [{ id: '1', fullName: 'Demo User 1', email: null }] });
    expect(body.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([[['nexudusUsers', 0, 'email'], 'UNAUTHENTICATED']]);
  });
});

describe('licensedFeatures (the Router license check above)', () => {
  it('names what the Router refuses without GraphOS, and nothing else', () => {
    const supergraph = (links: string, field = '') => `
      schema @link(url: "https://specs.apollo.dev/link/v1.0") ${links} { query: Query }
      type Query { a: String ${field} }
    `;
    expect(licensedFeatures(supergraph('@link(url: "https://specs.apollo.dev/join/v0.5", for: EXECUTION)'))).toEqual([]);
    expect(
      licensedFeatures(
        supergraph(
          '@link(url: "https://specs.apollo.dev/authenticated/v0.1", for: SECURITY) @link(url: "https://specs.apollo.dev/connect/v0.2", for: EXECUTION)',
          '@join__field(graph: A, overrideLabel: "percent(5)")',
        ),
      ),
    ).toEqual(['authenticated', 'connect', 'join__field(overrideLabel:)']);
  });
});
