import { type ApolloServerPlugin, HeaderMap } from '@apollo/server';
import { type DocumentNode, type FragmentDefinitionNode, GraphQLError, Kind } from 'graphql';
import type { IdArgument } from '../core/lookup.js';
import { budgetListItems, estimateValues, guardListItems } from '../guard/list-items.js';
import type { ValuesInFlight } from '../guard/values-in-flight.js';

/**
 * The ceilings on list items one operation may hand the subgraph and on the values they answer
 * (MAX_LIST_ITEMS_PER_OPERATION, MAX_RESULT_VALUES_PER_OPERATION; `src/guard/list-items.ts`): wraps the root fields that take id lists when the server starts, and gives
 * each request its budget before anything of it runs.
 */
/** A document's fragments by name, made once per document (the document cache hands the same one back). */
const fragmentMaps = new WeakMap<DocumentNode, Record<string, FragmentDefinitionNode>>();
function fragmentsOf(document: DocumentNode): Record<string, FragmentDefinitionNode> {
  let fragments = fragmentMaps.get(document);
  if (fragments === undefined) {
    fragments = {};
    for (const definition of document.definitions)
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
    fragmentMaps.set(document, fragments);
  }
  return fragments;
}

/** The error's extensions: OVERLOADED, the limit, and how Apollo should answer it (503, Retry-After). */
function overloaded(max: number): Record<string, unknown> {
  return {
    code: 'OVERLOADED',
    limit: 'MAX_RESULT_VALUES_IN_FLIGHT',
    max,
    http: { status: 503, headers: new HeaderMap([['retry-after', '1']]) },
  };
}

export function listItemsPlugin(
  idArguments: readonly IdArgument[],
  maxItems: number,
  maxValues: number,
  inFlight?: ValuesInFlight,
): ApolloServerPlugin<object> {
  const listArguments = new Map<string, string[]>();
  for (const { field, argument } of idArguments) listArguments.set(field, [...(listArguments.get(field) ?? []), argument]);
  return {
    async serverWillStart({ schema }) {
      guardListItems(schema, idArguments);
    },
    async requestDidStart({ contextValue }) {
      budgetListItems(contextValue, maxItems, maxValues);
      if (inFlight === undefined) return;
      let taken = 0;
      return {
        async didResolveOperation({ operation, document, request }) {
          if (operation === undefined) return;
          const values = estimateValues(operation, fragmentsOf(document), request.variables, listArguments, { maxItems, maxValues });
          const took = inFlight.take(values);
          if (took === undefined) {
            // Without a stack: under a flood these are many, and a stack would be most of their cost.
            const limit = Error.stackTraceLimit;
            Error.stackTraceLimit = 0;
            const refused = new GraphQLError(
              `The subgraph is answering ${inFlight.size} values for other operations (MAX_RESULT_VALUES_IN_FLIGHT ${inFlight.max}); this one would add about ${values}: try again`,
              { extensions: overloaded(inFlight.max) },
            );
            Error.stackTraceLimit = limit;
            throw refused;
          }
          taken = took;
        },
        async willSendResponse() {
          inFlight.give(taken);
          taken = 0;
        },
      };
    },
  };
}
