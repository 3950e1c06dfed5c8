import type { ApolloServerPlugin } from '@apollo/server';
import type { IdArgument } from '../core/lookup.js';
import { budgetListItems, guardListItems } from '../guard/list-items.js';

/**
 * The ceiling on list items one operation may hand the subgraph (MAX_LIST_ITEMS_PER_OPERATION,
 * `src/guard/list-items.ts`): wraps the root fields that take id lists when the server starts, and gives
 * each request its budget before anything of it runs.
 */
export function listItemsPlugin(idArguments: readonly IdArgument[], maxItems: number): ApolloServerPlugin<object> {
  return {
    async serverWillStart({ schema }) {
      guardListItems(schema, idArguments);
    },
    async requestDidStart({ contextValue }) {
      budgetListItems(contextValue, maxItems);
    },
  };
}
