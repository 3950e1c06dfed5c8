import { z } from 'zod';
import { httpUrl, secret } from '../../../src/core/env.js';
import { Lookup, type ResolverContext, type Runtime } from '../../../src/core/lookup.js';
import type { Env, ProviderId } from '../../../src/core/types.js';
import { defineProvider } from '../../../src/providers/provider.js';
import { header, path, UpstreamClient, type UpstreamResponse, type Verdict } from '../../../src/upstream/http.js';
import { parseRetryAfter } from '../../../src/upstream/retry.js';
import { parseUpstreamBody } from '../../../src/upstream/wire-check.js';

/**
 * Acme, a throw-away provider that lives only in this test: a folder's worth of provider written from the
 * contract (`defineProvider`) and the upstream layer alone, as "Adding a provider" in docs/architecture.md says, to
 * show that the conformance suite runs for a provider the registry gains without a test of its own.
 *
 * Its API: `GET /v1/people?ids=1,2&fields=email,title` with `Authorization: Token <key>` answers
 * `{"people": [{"id": 1, "name": "…", "email": "…", "title": "…"}]}`: people it does not know are absent,
 * `id` and `name` always come, `email` and `title` only when asked for.
 */
export const ACME: ProviderId = { name: 'acme', label: 'Acme' };

/** The fields Acme sends only when asked for, by their GraphQL field of `AcmePerson`. */
const OPTIONAL_FIELDS = ['email', 'title'] as const;

const AcmePerson = z.object({
  id: z.number().int().positive(),
  name: z.string(),
  email: z.string().optional(),
  title: z.string().optional(),
});
type AcmePerson = z.infer<typeof AcmePerson>;
const AcmePeople = z.object({ people: z.array(AcmePerson) });

export const acmePeople = new Lookup<AcmePerson>({
  provider: ACME,
  name: 'people',
  type: 'AcmePerson',
  key: { isValid: (id) => /^[1-9][0-9]{0,8}$/.test(id), expected: 'an Acme person id (a positive integer)' },
  fields: (selected) => OPTIONAL_FIELDS.filter((field) => selected === undefined || selected.has(`AcmePerson.${field}`)),
});

interface AcmeConfig {
  baseUrl: string;
  apiKey: string;
}

const acmeConfig = z
  .object({ ACME_API_KEY: secret, ACME_BASE_URL: httpUrl('https://api.acme.example') })
  .transform((vars): AcmeConfig | undefined =>
    vars.ACME_API_KEY === undefined ? undefined : { apiKey: vars.ACME_API_KEY, baseUrl: vars.ACME_BASE_URL },
  ) satisfies z.ZodType<AcmeConfig | undefined, Env>;

function classify(response: UpstreamResponse): Verdict {
  if (response.status === 200) return { kind: 'ok' };
  if (response.status === 401) return { kind: 'fail', code: 'UNAUTHENTICATED' };
  if (response.status === 429) return { kind: 'retry', code: 'RATE_LIMITED', waitMs: parseRetryAfter(header(response, 'retry-after')) };
  if (response.status >= 500) return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE' };
  return { kind: 'fail', code: 'UPSTREAM_UNAVAILABLE' };
}

export const acmeProvider = defineProvider<AcmeConfig, { http: UpstreamClient; apiKey: string }>({
  id: ACME,
  config: () => acmeConfig,
  createClient: (config, { upstream, logger, clock, circuits }) => ({
    apiKey: config.apiKey,
    http: new UpstreamClient({
      provider: ACME,
      baseUrl: config.baseUrl,
      connections: upstream.connections,
      timeoutMs: upstream.timeoutMs,
      retry: upstream.retry,
      logger,
      clock,
      classify,
      circuit: circuits.create(ACME),
      maxBodyBytes: 1024 * 1024,
    }),
  }),
  closeClient: (client) => client.http.close(),
  bind: (client, runtime: Runtime) =>
    acmePeople.bind(runtime, {
      maxBatchSize: 50,
      async fetch(ids, scope) {
        const query: Array<[string, string]> = [['ids', ids.join(',')]];
        if (scope.fields.length > 0) query.push(['fields', scope.fields.join(',')]);
        const response = await client.http.send(
          {
            method: 'GET',
            label: 'GET /v1/people',
            path: path`/v1/people`,
            ids: ids.length,
            query,
            headers: { authorization: `Token ${client.apiKey}` },
          },
          scope.signal,
        );
        const { people } = parseUpstreamBody(AcmePeople, response.body, { provider: ACME, method: 'GET /v1/people', logger: scope.logger });
        // Filed by the id each record carries, and only for an id that was asked.
        const asked = new Set(ids);
        return new Map(people.filter((person) => asked.has(String(person.id))).map((person) => [String(person.id), person]));
      },
    }),
  lookups: [acmePeople],
  resolvers: {
    Query: {
      acmePeople: (_: unknown, { ids }: { ids: string[] }, context: ResolverContext) => ids.map((id) => context.load(acmePeople, id)),
    },
    AcmePerson: {
      __resolveReference: (reference: { id: string }, context: ResolverContext) => context.load(acmePeople, reference.id),
      id: (person: AcmePerson) => String(person.id),
      provider: () => 'ACME',
      displayName: (person: AcmePerson) => person.name,
      avatarUrl: () => null,
      username: () => null,
      profileUrl: () => null,
      email: (person: AcmePerson) => person.email ?? null,
      title: (person: AcmePerson) => person.title ?? null,
    },
  },
  typeDefs: /* GraphQL */ `
    extend enum ExternalUserProvider {
      "Acme (a provider of this test only)."
      ACME
    }

    extend type Query {
      "Acme people by id, aligned with the input."
      acmePeople(ids: [ID!]!): [AcmePerson]!
    }

    "A person at Acme."
    type AcmePerson implements ExternalUser @key(fields: "id") @cacheControl(maxAge: 300) {
      id: ID!
      provider: ExternalUserProvider
      displayName: String
      avatarUrl: String
      username: String
      profileUrl: String
      "Asked of Acme only when selected."
      email: String
      "Asked of Acme only when selected."
      title: String
    }
  `,
  idArguments: [{ field: 'acmePeople', argument: 'ids', lookup: acmePeople }],
  cacheTtlSeconds: 300,
});
