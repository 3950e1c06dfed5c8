import { type DocumentNode, GraphQLList, GraphQLObjectType, GraphQLSchema, GraphQLString, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { compiledExecution } from './compiled-executor.js';

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: 'Query',
    fields: {
      // Items settle out of order, the failing one first: the list must stay aligned with its input.
      names: {
        type: new GraphQLList(GraphQLString),
        resolve: () => [
          new Promise((resolve) => setTimeout(() => resolve('a'), 5)),
          Promise.reject(new Error('b failed')),
          new Promise((resolve) => setTimeout(() => resolve('c'), 1)),
        ],
      },
    },
  }),
});

async function run(execution: ReturnType<typeof compiledExecution>, document: DocumentNode) {
  const { executor } = await execution.gateway.load({ apollo: {} });
  return executor!({ document, operationName: null, request: {}, context: {} } as never);
}

describe('compiledExecution', () => {
  it('runs a document on graphql-js until it comes again, then compiled, with the same answer', async () => {
    const execution = compiledExecution(schema, { runsBeforeCompiling: 1 });
    const document = parse('{ names }');
    const first = await run(execution, document);
    expect(execution.stats()).toEqual({ compiled: 0, refused: 0 });
    const second = await run(execution, document);
    expect(execution.stats()).toEqual({ compiled: 1, refused: 0 });
    expect(second.data).toEqual({ names: ['a', null, 'c'] });
    expect(JSON.parse(JSON.stringify(second))).toEqual(JSON.parse(JSON.stringify(first)));
  });

  it('a document sent once is never compiled', async () => {
    const execution = compiledExecution(schema, { runsBeforeCompiling: 1 });
    for (let i = 0; i < 3; i++) await run(execution, parse('{ names }')); // a new document each time
    expect(execution.stats()).toEqual({ compiled: 0, refused: 0 });
  });
});
