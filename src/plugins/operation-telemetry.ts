import type { ApolloServerPlugin } from '@apollo/server';
import type { RequestContext } from '../request/context.js';
import { errorCode } from '../telemetry/tracing.js';

/** A GraphQL name, as an operation name must be; anything else a client sent is not repeated. */
const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,127}$/;

/**
 * Tells each request's telemetry its operation and the error codes of its answer, whatever stage
 * answered it (parse and validation failures included).
 */
export function operationTelemetryPlugin(): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue, operationName, operation, request }) {
          const telemetry = contextValue.telemetry;
          if (telemetry === undefined) return;
          const name = operationName ?? request.operationName;
          telemetry.noteOperation(
            typeof name === 'string' && GRAPHQL_NAME.test(name) ? name : undefined,
            operation?.operation ?? undefined,
          );
          if (response.body.kind !== 'single') return;
          for (const error of response.body.singleResult.errors ?? []) telemetry.noteError(errorCode(error));
        },
      };
    },
  };
}
