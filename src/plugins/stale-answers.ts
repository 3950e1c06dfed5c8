import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import type { RequestContext } from '../request/context.js';

/**
 * Says in the response which answers were served from the cache after they expired, because their
 * upstream could not answer (rate limited, unavailable): `extensions.stale` lists provider, id and age.
 * A client then knows what may be out of date; without it, a stale answer would look fresh.
 */
export function staleAnswersPlugin(): ApolloServerPlugin<RequestContext> {
  const listener: GraphQLRequestListener<RequestContext> = {
    async willSendResponse({ response, contextValue }) {
      if (contextValue.stale.length === 0 || response.body.kind !== 'single') return;
      const result = response.body.singleResult;
      result.extensions = { ...result.extensions, stale: contextValue.stale };
    },
  };
  return { requestDidStart: async () => listener };
}
