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
const ENTITIES = 'query ($r: [_Any!]!) { _entities(representations: $r) { ... on Widget { id } } }';

describe('inputGuardPlugin: malformed ids', () => {
  it('lets an operation whose ids are all valid run', async () => {
    const outcome = await run('{ widgets(ids: ["1", "22"]) { id } echo(text: "hi") }');
    expect(outcome.errors).toBeUndefined();
    expect(outcome.data).toEqual({ widgets: [{ id: '1' }, { id: '22' }], echo: 'hi' });
    expect(ran).toEqual(['widgets', 'echo']);
  });

  it('refuses the whole operation for one malformed root id: HTTP 400, BAD_USER_INPUT, the argument and index named', async () => {
    const { message, extensions } = refused(await run('{ echo(text: "first") widgets(ids: ["1", "abc", "3"]) { id } }'));
    expect(message).toBe('widgets: ids[1] "abc" is not an Acme widget id (1-4 digits)');
    expect(extensions).toMatchObject({ code: 'BAD_USER_INPUT', provider: 'acme', id: 'abc', argument: 'ids', index: 1 });
  });

  it('names the first malformed id and counts the others', async () => {
    const { message, extensions } = refused(await run('{ widgets(ids: ["1", "12345", "x", "2", ""]) { id } }'));
    expect(message).toBe('widgets: ids[1] "12345" is not an Acme widget id (1-4 digits) (and 2 more invalid)');
    expect(extensions).toMatchObject({ index: 1, id: '12345' });
  });

  it('checks ids given as variables, after coercion', async () => {
    const { message } = refused(await run('query ($ids: [ID!]!) { widgets(ids: $ids) { id } }', { ids: ['7', 'seven'] }));
    expect(message).toBe('widgets: ids[1] "seven" is not an Acme widget id (1-4 digits)');
  });

  it('checks each id argument of a field by its own key', async () => {
    expect((await run('{ gadgets(codes: ["abc"], widgetIds: ["5"]) { code } }')).errors).toBeUndefined();
    const byCode = refused(await run('{ gadgets(codes: ["abc", "ABCD"]) { code } }'));
    expect(byCode.message).toBe('gadgets: codes[1] "ABCD" is not an Acme gadget code (3 letters)');
    expect(byCode.extensions).toMatchObject({ argument: 'codes', index: 1 });
    const byWidget = refused(await run('{ gadgets(codes: ["abc"], widgetIds: ["-5"]) { code } }'));
    expect(byWidget.extensions).toMatchObject({ argument: 'widgetIds', index: 0, id: '-5' });
  });

  it('checks a root field under an alias', async () => {
    const { extensions } = refused(await run('{ ok: widgets(ids: ["1"]) { id } bad: widgets(ids: ["nope"]) { id } }'));
    expect(extensions).toMatchObject({ argument: 'ids', index: 0, id: 'nope' });
  });

  it('checks root fields reached through named and inline fragments, nested', async () => {
    const named = refused(
      await run(`
        query { ...Outer }
        fragment Outer on Query { echo(text: "x") ...Inner }
        fragment Inner on Query { widgets(ids: ["1", "bad"]) { id } }
      `),
    );
    expect(named.extensions).toMatchObject({ index: 1, id: 'bad' });

    const inline = refused(await run('{ ... on Query { ... { gadgets(codes: ["toolong"]) { code } } } }'));
    expect(inline.extensions).toMatchObject({ argument: 'codes', index: 0 });
  });

  it('does not check an argument the guard was not told about', async () => {
    const outcome = await run('{ echo(text: "not an id at all") }');
    expect(outcome.errors).toBeUndefined();
    expect(ran).toEqual(['echo']);
  });
});

describe('inputGuardPlugin: the cap on ids per operation', () => {
  it('allows exactly the cap, root lists and _entities representations added up', async () => {
    const outcome = await run(
      `query ($r: [_Any!]!) { widgets(ids: ["1", "2", "3"]) { id } _entities(representations: $r) { __typename } }`,
      {
        r: entities(3),
      },
    );
    expect(outcome.errors).toBeUndefined();
    expect(ran).toEqual(['widgets', ...Array(3).fill('Widget.__resolveReference')]);
  });

  it('refuses one id more: root lists and representations count together', async () => {
    const { message, extensions } = refused(
      await run(`query ($r: [_Any!]!) { widgets(ids: ["1", "2", "3"]) { id } _entities(representations: $r) { __typename } }`, {
        r: entities(4),
      }),
    );
    expect(message).toBe('This operation asks for 7 ids; at most 6 are allowed per operation (MAX_IDS_PER_OPERATION)');
    expect(extensions).toEqual({ code: 'BAD_USER_INPUT', limit: 6, requested: 7 });
  });

  it('counts every root list, every argument, and duplicates', async () => {
    const { extensions } = refused(
      await run(
        '{ a: widgets(ids: ["1", "1"]) { id } b: widgets(ids: ["1", "1"]) { id } gadgets(codes: ["abc"], widgetIds: ["1", "1"]) { code } }',
      ),
    );
    expect(extensions).toMatchObject({ limit: 6, requested: 7 });
  });

  it('counts _entities representations alone', async () => {
    expect((await run(ENTITIES, { r: entities(6) })).errors).toBeUndefined();
    const { extensions } = refused(await run(ENTITIES, { r: entities(7) }));
    expect(extensions).toMatchObject({ limit: 6, requested: 7 });
  });

  it('counts root lists reached through fragments', async () => {
    const { extensions } = refused(
      await run(`
        query { ...A ... on Query { b: widgets(ids: ["5", "6", "7"]) { id } } }
        fragment A on Query { a: widgets(ids: ["1", "2", "3", "4"]) { id } }
      `),
    );
    expect(extensions).toMatchObject({ requested: 7 });
  });
});
