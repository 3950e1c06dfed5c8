import { type DocumentNode, GraphQLList, GraphQLObjectType, GraphQLSchema, GraphQLString, parse, print } from 'graphql';
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
  return executor!({ document, source: print(document), operationName: null, request: {}, context: {} } as never);
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

  it('never compiles a document longer than maxDocumentChars: compiling one would stall the event loop', async () => {
    const execution = compiledExecution(schema, { runsBeforeCompiling: 0, maxDocumentChars: 20 });
    const long = parse('{ names a: names b: names }'); // 27 characters printed
    for (let i = 0; i < 3; i++) await run(execution, long);
    expect(execution.stats().compiled).toBe(0);
    await run(execution, parse('{ names }'));
    expect(execution.stats().compiled).toBe(1);
  });

  it('compiles within a budget of time that refills: a flood of new documents runs on graphql-js', async () => {
    let clock = 0;
    // Each reading of the clock moves it 60 ms: every compile "takes" 60 ms.
    const execution = compiledExecution(schema, { runsBeforeCompiling: 0, compileBudgetMs: 100, now: () => (clock += 60) });
    const documents = ['{ names }', '{ a: names }', '{ b: names }'].map((text) => parse(text));
    for (const document of documents) await run(execution, document);
    expect(execution.stats().compiled).toBe(2); // 100 ms of budget: 60 + 60 spent, the third finds it empty
    await run(execution, documents[2]!);
    expect(execution.stats().compiled).toBe(2); // still empty (it refills 10 ms a second)
    clock += 20_000; // refilled
    const answer = await run(execution, documents[2]!);
    expect(execution.stats().compiled).toBe(3);
    expect(answer.data).toEqual({ b: ['a', null, 'c'] });
  });
});
