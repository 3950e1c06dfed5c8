import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import type { RequestContext } from '../context.js';
import { type CachePolicies, cacheControlHeader } from './cache-policy.js';

/**
 * Sets each response's `Cache-Control` header from the policy of its document (`CachePolicies`), so
 * that Apollo Router's response cache, a gateway cache or a CDN in front of GET requests can reuse it.
 *
 * Never reusable (`no-store`): a response with errors (a rate limit or an outage is not an answer to
 * keep), one that served stale records, and one whose document could not run. `private` whatever the
 * document: an answer made with the caller's own upstream credentials.
 */
export function cacheControlPlugin(policies: CachePolicies): ApolloServerPlugin<RequestContext> {
  const listener: GraphQLRequestListener<RequestContext> = {
    async willSendResponse({ response, document, contextValue }) {
      const body = response.body;
      const failed = body.kind !== 'single' || body.singleResult.errors !== undefined || document === undefined;
      if (failed || contextValue.stale.length > 0) {
        response.http.headers.set('cache-control', 'no-store');
        return;
      }
      const policy = policies.of(document);
      const scope = contextValue.usesCallerCredentials() ? 'PRIVATE' : policy.scope;
      response.http.headers.set('cache-control', cacheControlHeader({ maxAge: policy.maxAge, scope }));
    },
  };
  return { requestDidStart: async () => listener };
}
