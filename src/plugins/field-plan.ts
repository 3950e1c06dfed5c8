import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import type { SelectedFields } from '../core/types.js';
import { selectedFields } from '../plan/selected-fields.js';
import type { RequestContext } from '../request/context.js';

/**
 * Works out, once the operation is known and before any resolver runs, which fields it selects, so
 * that the first upstream call of every provider already asks for all of them. Cached per document:
 * Apollo Server reuses the parsed document of a repeated query, so this is a WeakMap hit after the
 * first request. `narrow` takes out what this request's caller may not see (access control), so that
 * nothing is fetched for it.
 */
export function fieldPlanPlugin(
  narrow: (selected: SelectedFields, context: RequestContext) => SelectedFields = (selected) => selected,
): ApolloServerPlugin<RequestContext> {
  // Stateless, so one listener serves every request.
  const listener: GraphQLRequestListener<RequestContext> = {
    async didResolveOperation({ document, schema, contextValue }) {
      contextValue.selected = narrow(selectedFields(schema, document), contextValue);
    },
  };
  return { requestDidStart: async () => listener };
}
