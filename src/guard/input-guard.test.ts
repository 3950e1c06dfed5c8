import { ApolloServer, type GraphQLResponse } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestContext } from '../context.js';
import type { ProviderId } from '../providers/provider.js';
import { type IdArgument, inputGuardPlugin } from './input-guard.js';

/**
 * The input guard on a small made-up subgraph, through a real ApolloServer: what it refuses, with
 * which answer, and that a refused operation runs no resolver at all.
 */

const ACME: ProviderId = { name: 'acme', label: 'Acme' };
const widgetId = { provider: ACME, key: { isValid: (id: string) => /^[0-9]{1,4}$/.test(id), expected: 'an Acme widget id (1-4 digits)' } };
const gadgetCode = {
  provider: ACME,
  key: { isValid: (code: string) => /^[a-z]{3}$/.test(code), expected: 'an Acme gadget code (3 letters)' },
};

const ID_ARGUMENTS: IdArgument[] = [
  { field: 'widgets', argument: 'ids', lookup: widgetId },
  { field: 'gadgets', argument: 'codes', lookup: gadgetCode },
  { field: 'gadgets', argument: 'widgetIds', lookup: widgetId },
];
const MAX_IDS = 6;

const typeDefs = parse(/* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  type Widget @key(fields: "id") {
    id: ID!
  }

  type Gadget {
    code: String!
  }

  type Query {
    widgets(ids: [ID!]!): [Widget]!
    gadgets(codes: [String!], widgetIds: [ID!]): [Gadget]!
    echo(text: String): String
  }
`);

/** Every resolver that ran, by name: a refused operation must leave this empty. */
let ran: string[] = [];

const schema = buildSubgraphSchema({
  typeDefs,
  resolvers: {
    Query: {
      widgets: (_: unknown, { ids }: { ids: string[] }) => {
        ran.push('widgets');
        return ids.map((id) => ({ id }));
      },
      gadgets: (_: unknown, { codes }: { codes?: string[] }) => {
        ran.push('gadgets');
        return (codes ?? []).map((code) => ({ code }));
      },
      echo: (_: unknown, { text }: { text?: string }) => {
        ran.push('echo');
        return text ?? null;
      },
    },
    Widget: {
      __resolveReference: (reference: { id: string }) => {
        ran.push('Widget.__resolveReference');
        return { id: reference.id };
      },
    },
  } as never,
});

const logger = pino({ level: 'silent' });
let server: ApolloServer<RequestContext>;

beforeAll(async () => {
  server = new ApolloServer<RequestContext>({ schema, logger, plugins: [inputGuardPlugin(ID_ARGUMENTS, MAX_IDS)] });
  await server.start();
});

afterAll(async () => {
  await server.stop();
});

interface Outcome {
  status: number | undefined;
  data: Record<string, unknown> | null | undefined;
  errors: ReadonlyArray<{ message: string; extensions?: Record<string, unknown> }> | undefined;
}

/** Runs one operation; `ran` then holds the resolvers it ran. */
async function run(query: string, variables?: Record<string, unknown>): Promise<Outcome> {
  ran = [];
  const response: GraphQLResponse = await server.executeOperation(
    { query, variables },
    { contextValue: new RequestContext(new Map(), logger) },
  );
  if (response.body.kind !== 'single') throw new Error('expected a single result');
  const { data, errors } = response.body.singleResult;
  return { status: response.http.status, data, errors: errors as Outcome['errors'] };
}

/** The one error of a refused operation; asserts it was refused before anything ran. */
function refused(outcome: Outcome): { message: string; extensions: Record<string, unknown> } {
  expect(outcome.status).toBe(400);
  expect(outcome.data).toBeUndefined();
  expect(outcome.errors).toHaveLength(1);
  const error = outcome.errors![0]!;
  expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
  expect(ran).toEqual([]);
  return { message: error.message, extensions: error.extensions! };
}

const entities = (n: number, start = 1) => Array.from({ length: n }, (_, i) => ({ __typename: 'Widget', id: String(start + i) }));

describe('inputGuardPlugin: the ceiling on list items per operation', () => {
  it('allows exactly the ceiling, root lists and _entities representations added up', async () => {
    const outcome = await run(
      `query ($r: [_Any!]!) { widgets(ids: ["1", "2", "3"]) { id } _entities(representations: $r) { __typename } }`,
      {
        r: entities(3),
      },
    );
    expect(outcome.errors).toBeUndefined();
    expect(ran).toEqual(['widgets', ...Array(3).fill('Widget.__resolveReference')]);
  });

  it('refuses one item more before anything runs: HTTP 400, BAD_USER_INPUT, the limit named', async () => {
    const { message, extensions } = refused(
      await run(`query ($r: [_Any!]!) { widgets(ids: ["1", "2", "3"]) { id } _entities(representations: $r) { __typename } }`, {
        r: entities(4),
      }),
    );
    expect(message).toBe('This operation asks for 7 ids and representations in all; at most 6 are allowed (MAX_LIST_ITEMS_PER_OPERATION)');
    expect(extensions).toEqual({ code: 'BAD_USER_INPUT', limit: 'MAX_LIST_ITEMS_PER_OPERATION', max: 6, requested: 7 });
  });

  it('counts duplicates, every listed argument, and aliased root fields', async () => {
    refused(await run('{ a: widgets(ids: ["1", "1", "1", "1"]) { id } b: gadgets(codes: ["abc"], widgetIds: ["1", "1"]) { code } }'));
    expect(
      (await run('{ a: widgets(ids: ["1", "1", "1"]) { id } b: gadgets(codes: ["abc"], widgetIds: ["1", "1"]) { code } }')).errors,
    ).toBeUndefined();
  });

  it('counts values as GraphQL coerced them: default values, and a scalar given for a list', async () => {
    refused(await run('query ($ids: [ID!]! = ["1", "2", "3", "4", "5", "6", "7"]) { widgets(ids: $ids) { id } }'));
    const defaults = entities(7)
      .map((r) => `{ __typename: "Widget", id: "${r.id}" }`)
      .join(', ');
    refused(await run(`query ($r: [_Any!]! = [${defaults}]) { _entities(representations: $r) { __typename } }`));
    // One scalar where a list is expected is the one-item list GraphQL makes of it.
    expect((await run('query ($ids: [ID!]!) { widgets(ids: $ids) { id } }', { ids: '5' })).data).toEqual({ widgets: [{ id: '5' }] });
    refused(
      await run('query ($ids: [ID!]!, $more: [ID!]!) { widgets(ids: $ids) { id } more: widgets(ids: $more) { id } }', {
        ids: '5',
        more: ['1', '2', '3', '4', '5', '6'],
      }),
    );
  });

  it('counts root fields reached through named and inline fragments, nested', async () => {
    refused(
      await run(`
        query { ...Outer ... on Query { ... { gadgets(widgetIds: ["1", "2"]) { code } } } }
        fragment Outer on Query { echo(text: "x") ...Inner }
        fragment Inner on Query { widgets(ids: ["1", "2", "3", "4", "5"]) { id } }
      `),
    );
  });

  it('leaves malformed ids and invalid variables to where they are used', async () => {
    // Whether an id is valid is checked by RequestContext.load, per item: not the guard's business.
    expect((await run('{ widgets(ids: ["not an id"]) { id } }')).errors).toBeUndefined();
    const invalid = await run('query ($ids: [ID!]!) { widgets(ids: $ids) { id } }', { ids: [{ nested: true }] });
    expect(invalid.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(invalid.errors![0]!.message).toContain('Variable "$ids" got invalid value');
    expect(ran).toEqual([]);
  });

  it('does not count arguments it was not told about', async () => {
    expect((await run('{ echo(text: "1,2,3,4,5,6,7,8") }')).errors).toBeUndefined();
  });
});
