import { ApolloServer } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { expect, it } from 'vitest';
import { Runtime } from '../core/lookup.js';
import { RequestContext } from '../request/context.js';
import { captureLogs } from '../testing/log-capture.js';
import { bugLogPlugin } from './bug-log.js';

it('logs a resolver bug with its stack, and not an error given on purpose', async () => {
  const { logger, lines } = captureLogs('info');
  const server = new ApolloServer<RequestContext>({
    typeDefs: 'type Query { broken: String, refused: String }',
    resolvers: {
      Query: {
        broken: () => (undefined as unknown as { name: string }).name,
        refused: () => {
          throw new GraphQLError('no such thing', { extensions: { code: 'NOT_FOUND' } });
        },
      },
    },
    plugins: [bugLogPlugin()],
  });
  await server.start();
  try {
    const response = await server.executeOperation(
      { query: '{ broken refused }' },
      { contextValue: new RequestContext({ runtime: new Runtime(), logger: logger }) },
    );
    expect(response.body.kind === 'single' && response.body.singleResult.errors?.length).toBe(2);
  } finally {
    await server.stop();
  }
  expect(lines).toHaveLength(1);
  const line = JSON.parse(lines[0]!);
  expect(line.msg).toBe('an operation failed on a bug, not an upstream answer');
  expect(line.path).toEqual(['broken']);
  expect(line.err.type).toBe('TypeError');
  expect(line.err.stack).toContain('bug-log.test.ts');
});
