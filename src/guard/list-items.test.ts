import { ApolloServer, type GraphQLResponse } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { type FragmentDefinitionNode, type OperationDefinitionNode, parse } from 'graphql';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdArgument } from '../core/lookup.js';
import type { ProviderId } from '../core/types.js';
import { listItemsPlugin } from '../plugins/list-items.js';
import { estimateValues } from './list-items.js';
import { ValuesInFlight } from './values-in-flight.js';

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
  server = new ApolloServer<object>({ schema, logger, plugins: [listItemsPlugin(ID_ARGUMENTS, MAX_IDS, Number.POSITIVE_INFINITY)] });
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

describe('MAX_RESULT_VALUES_PER_OPERATION and MAX_RESULT_VALUES_IN_FLIGHT: what the items answer (issue 20)', () => {
  let bounded: ApolloServer<object>;
  const inFlight = new ValuesInFlight(30, 10);
  beforeAll(async () => {
    // Ample list items; 20 values per operation; 30 in flight, counted from 10.
    bounded = new ApolloServer<object>({ schema, logger, plugins: [listItemsPlugin(ID_ARGUMENTS, 1_000, 20, inFlight)] });
    await bounded.start();
  });
  afterAll(async () => {
    await bounded.stop();
  });

  async function runBounded(query: string, variables?: Record<string, unknown>): Promise<Outcome> {
    ran = [];
    const response = await bounded.executeOperation({ query, variables }, { contextValue: {} });
    if (response.body.kind !== 'single') throw new Error('expected a single result');
    const { data, errors } = response.body.singleResult;
    return { status: response.http.status, data, errors: errors as Outcome['errors'] };
  }

  it('items beyond the values ceiling (items × fields selected) are cut with one error for the list, that limit named', async () => {
    // Two values per widget (id, and __typename through a fragment): 10 of 14 fit in 20.
    const ids = Array.from({ length: 14 }, (_, i) => String(i + 1));
    const outcome = await runBounded('query ($ids: [ID!]!) { widgets(ids: $ids) { id ...W } } fragment W on Widget { __typename }', {
      ids,
    });
    expect(cut(outcome)).toEqual([
      [
        'widgets.10',
        { code: 'BAD_USER_INPUT', provider: 'acme', id: '11', limit: 'MAX_RESULT_VALUES_PER_OPERATION', max: 20, alsoNotResolved: 3 },
      ],
    ]);
    expect((outcome.data!.widgets as unknown[]).slice(0, 10)).toEqual(ids.slice(0, 10).map((id) => ({ id, __typename: 'Widget' })));
    expect((outcome.data!.widgets as unknown[]).slice(10)).toEqual([null, null, null, null]);
  });

  it('estimates an operation before it runs: lists as sent (literals, variables), values per item, fragments by type, capped', () => {
    const document = parse(
      'query ($ids: [ID!]!, $one: ID) { a: widgets(ids: $ids) { id } b: gadgets(codes: ["abc", "def"], widgetIds: [$one]) { code ... on Gadget { code } } ...R } fragment R on Query { widgets(ids: ["1"]) { id __typename } }',
    );
    const operation = document.definitions[0] as OperationDefinitionNode;
    const fragments = { R: document.definitions[1] as FragmentDefinitionNode };
    const lists = new Map([
      ['widgets', ['ids']],
      ['gadgets', ['codes', 'widgetIds']],
    ]);
    // a: 5 × 1, b: 3 × 2, the fragment's widgets: 1 × 2.
    expect(
      estimateValues(operation, fragments, { ids: ['1', '2', '3', '4', '5'], one: '9' }, lists, { maxItems: 100, maxValues: 100 }),
    ).toBe(13);
    expect(
      estimateValues(operation, fragments, { ids: ['1', '2', '3', '4', '5'], one: '9' }, lists, { maxItems: 100, maxValues: 10 }),
    ).toBe(10);
    // At most maxItems items in all: a's 5, then 1 of b's.
    expect(estimateValues(operation, fragments, { ids: ['1', '2', '3', '4', '5'], one: '9' }, lists, { maxItems: 6, maxValues: 100 })).toBe(
      7,
    );
  });

  it('a large operation that would pass the values in flight is answered 503 OVERLOADED with Retry-After, before anything runs; small ones pass', async () => {
    const held = inFlight.take(25); // another operation's, in progress
    expect(held).toBe(25);
    try {
      const ids = Array.from({ length: 10 }, (_, i) => String(i + 1));
      const refused = await runBounded('query ($ids: [ID!]!) { widgets(ids: $ids) { id } }', { ids });
      expect(refused.status).toBe(503);
      expect(refused.errors![0]!.extensions).toMatchObject({ code: 'OVERLOADED', limit: 'MAX_RESULT_VALUES_IN_FLIGHT', max: 30 });
      expect(ran).toEqual([]);
      const small = await runBounded('{ widgets(ids: ["1", "2"]) { id } }'); // 2 values: not counted
      expect(small.errors).toBeUndefined();
    } finally {
      inFlight.give(25);
    }
    const ids = Array.from({ length: 10 }, (_, i) => String(i + 1));
    expect((await runBounded('query ($ids: [ID!]!) { widgets(ids: $ids) { id } }', { ids })).errors).toBeUndefined();
    expect(inFlight.size).toBe(0); // given back when answered
  });
});
