import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { RequestContext } from '../request/context.js';

/**
 * Logs, with its stack, every error of an operation that is not an answer this subgraph meant to give:
 * a resolver that threw a TypeError reaches the client as INTERNAL_SERVER_ERROR, and without this line
 * nobody would know it was a bug rather than an outage. Errors that are GraphQL errors on purpose
 * (ProviderErrors, validation, BAD_USER_INPUT) are answers, not bugs, and are not logged here.
 */
export function bugLogPlugin(): ApolloServerPlugin<RequestContext> {
  const listener: GraphQLRequestListener<RequestContext> = {
    async didEncounterErrors({ errors, contextValue, operationName }) {
      for (const error of errors) {
        const cause = error.originalError;
        if (cause === undefined || cause === null || cause instanceof GraphQLError) continue;
        contextValue.logger.error({ err: cause, operationName, path: error.path }, 'an operation failed on a bug, not an upstream answer');
      }
    },
  };
  return { requestDidStart: async () => listener };
}
