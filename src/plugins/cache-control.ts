import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import type { Config } from '../config.js';
import { type CachePolicies, cacheControlHeader } from '../plan/cache-policy.js';
import type { RequestContext } from '../request/context.js';

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

/**
 * A type's `@cacheControl` hint never outlives its provider's record TTL (`<NAME>_CACHE_TTL_SECONDS`):
 * the types a provider resolves are those of its resolver map.
 */
export function maxAgeCaps(config: Pick<Config, 'providers' | 'sharing'>): Map<string, number> {
  const caps = new Map<string, number>();
  for (const provider of config.providers) {
    const ttlMs = config.sharing.providers.get(provider.id.name)?.ttlMs;
    if (ttlMs === undefined) continue;
    for (const type of Object.keys(provider.resolvers)) if (type !== 'Query') caps.set(type, Math.floor(ttlMs / 1000));
  }
  return caps;
}
