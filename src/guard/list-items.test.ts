import { ApolloServer, type GraphQLResponse } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdArgument } from '../core/lookup.js';
import type { ProviderId } from '../core/types.js';
import { listItemsPlugin } from '../plugins/list-items.js';

/**
 * The input guard on a small made-up subgraph, through a real ApolloServer: which items it cuts off,
 * with which answer (HTTP 200, an error at each item beyond, the rest answered), and that an item cut
 * off is never resolved.
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
      // Aligned with its arguments in the order ID_ARGUMENTS lists them: codes, then widget ids.
      gadgets: (_: unknown, { codes, widgetIds }: { codes?: string[]; widgetIds?: string[] }) => {
        ran.push('gadgets');
        return [...(codes ?? []).map((code) => ({ code })), ...(widgetIds ?? []).map((id) => ({ code: `w${id}` }))];
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
let server: ApolloServer<object>;

beforeAll(async () => {
  server = new ApolloServer<object>({ schema, logger, plugins: [listItemsPlugin(ID_ARGUMENTS, MAX_IDS)] });
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
  const response: GraphQLResponse = await server.executeOperation({ query, variables }, { contextValue: {} });
  if (response.body.kind !== 'single') throw new Error('expected a single result');
  const { data, errors } = response.body.singleResult;
  return { status: response.http.status, data, errors: errors as Outcome['errors'] };
}

/** The errors of items cut off by the ceiling: `[path, extensions]` each; asserts the rest of the answer stands. */
function cut(outcome: Outcome): Array<[string, Record<string, unknown>]> {
  expect(outcome.status).toBeUndefined(); // HTTP 200
  expect(outcome.data).toBeDefined();
  return (outcome.errors ?? []).map((e) => [(e as { path?: unknown[] }).path!.join('.'), e.extensions!]);
}

const entities = (n: number, start = 1) => Array.from({ length: n }, (_, i) => ({ __typename: 'Widget', id: String(start + i) }));
const beyond = { code: 'BAD_USER_INPUT', limit: 'MAX_LIST_ITEMS_PER_OPERATION', max: MAX_IDS };

describe('listItemsPlugin: the ceiling on list items per operation', () => {
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

  it('one item more: HTTP 200, that item alone null with BAD_USER_INPUT and the limit named, never resolved; the rest answered', async () => {
    const outcome = await run(
      `query ($r: [_Any!]!) { widgets(ids: ["1", "2", "3"]) { id } _entities(representations: $r) { __typename } }`,
      { r: entities(4) },
    );
    expect(cut(outcome)).toEqual([['_entities.3', beyond]]);
    expect(outcome.errors![0]!.message).toBe(
      'Representation not resolved: at most 6 ids and representations in all per operation (MAX_LIST_ITEMS_PER_OPERATION)',
    );
    expect(outcome.data).toEqual({
      widgets: [{ id: '1' }, { id: '2' }, { id: '3' }],
      _entities: [{ __typename: 'Widget' }, { __typename: 'Widget' }, { __typename: 'Widget' }, null],
    });
    expect(ran).toEqual(['widgets', ...Array(3).fill('Widget.__resolveReference')]);
  });

  it('an id beyond names its provider and itself, as every lookup error does', async () => {
    const outcome = await run('{ widgets(ids: ["1", "2", "3", "4", "5", "6", "7", "8"]) { id } }');
    expect(cut(outcome)).toEqual([
      ['widgets.6', { ...beyond, provider: 'acme', id: '7' }],
      ['widgets.7', { ...beyond, provider: 'acme', id: '8' }],
    ]);
    expect(outcome.errors![0]!.message).toBe(
      'Acme: "7" was not looked up: at most 6 ids and representations in all per operation (MAX_LIST_ITEMS_PER_OPERATION)',
    );
  });

  it('counts duplicates, every listed argument, and aliased root fields, in the order the fields run', async () => {
    const over = await run('{ a: widgets(ids: ["1", "1", "1", "1"]) { id } b: gadgets(codes: ["abc"], widgetIds: ["1", "1"]) { code } }');
    // The second argument's last item is the seventh: cut, and the list stays aligned with the arguments.
    expect(cut(over)).toEqual([['b.2', { ...beyond, provider: 'acme', id: '1' }]]);
    expect(over.data!.b).toEqual([{ code: 'abc' }, { code: 'w1' }, null]);
    const cutFirst = await run(
      '{ a: widgets(ids: ["1", "1", "1", "1", "1"]) { id } b: gadgets(codes: ["abc", "def"], widgetIds: ["2"]) { code } }',
    );
    expect(cut(cutFirst).map(([path]) => path)).toEqual(['b.1', 'b.2']);
    expect(cutFirst.data!.b).toEqual([{ code: 'abc' }, null, null]);
    expect(
      (await run('{ a: widgets(ids: ["1", "1", "1"]) { id } b: gadgets(codes: ["abc"], widgetIds: ["1", "1"]) { code } }')).errors,
    ).toBeUndefined();
  });

  it('counts values as GraphQL coerced them: default values, and a scalar given for a list', async () => {
    expect(cut(await run('query ($ids: [ID!]! = ["1", "2", "3", "4", "5", "6", "7"]) { widgets(ids: $ids) { id } }'))).toEqual([
      ['widgets.6', { ...beyond, provider: 'acme', id: '7' }],
    ]);
    const defaults = entities(7)
      .map((r) => `{ __typename: "Widget", id: "${r.id}" }`)
      .join(', ');
    expect(cut(await run(`query ($r: [_Any!]! = [${defaults}]) { _entities(representations: $r) { __typename } }`))).toEqual([
      ['_entities.6', beyond],
    ]);
    // One scalar where a list is expected is the one-item list GraphQL makes of it.
    expect((await run('query ($ids: [ID!]!) { widgets(ids: $ids) { id } }', { ids: '5' })).data).toEqual({ widgets: [{ id: '5' }] });
    const scalar = await run('query ($ids: [ID!]!, $more: [ID!]!) { widgets(ids: $ids) { id } more: widgets(ids: $more) { id } }', {
      ids: '5',
      more: ['1', '2', '3', '4', '5', '6'],
    });
    expect(cut(scalar)).toEqual([['more.5', { ...beyond, provider: 'acme', id: '6' }]]);
  });

  it('counts root fields reached through named and inline fragments, nested', async () => {
    const outcome = await run(`
        query { ...Outer ... on Query { ... { gadgets(widgetIds: ["1", "2"]) { code } } } }
        fragment Outer on Query { echo(text: "x") ...Inner }
        fragment Inner on Query { widgets(ids: ["1", "2", "3", "4", "5"]) { id } }
      `);
    expect(cut(outcome).map(([path]) => path)).toEqual(['gadgets.1']);
  });

  it('a hostile list: at most the ceiling resolved and the ceiling in errors; the rest null, counted in the last error', async () => {
    const outcome = await run('query ($ids: [ID!]!) { widgets(ids: $ids) { id } more: widgets(ids: ["1"]) { id } }', {
      ids: Array.from({ length: 50_000 }, () => '1'),
    });
    const widgets = outcome.data!.widgets as unknown[];
    expect(widgets).toHaveLength(50_000);
    expect(widgets.filter((w) => w !== null)).toHaveLength(MAX_IDS);
    // Six errors (the ceiling) at items 6..11, the last one counting the 49,988 nulls after it; and one for the next list cut.
    expect(cut(outcome)).toEqual([
      ...[6, 7, 8, 9, 10].map((i) => [`widgets.${i}`, { ...beyond, provider: 'acme', id: '1' }]),
      ['widgets.11', { ...beyond, provider: 'acme', id: '1', alsoNotResolved: 49_988 }],
      ['more.0', { ...beyond, provider: 'acme', id: '1' }],
    ]);
    expect(outcome.errors![5]!.message).toContain('nor were the 49988 items after it in this list, which answer null');
    expect(ran).toEqual(['widgets', 'widgets']);
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
