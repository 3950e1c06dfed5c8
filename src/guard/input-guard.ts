import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  getArgumentValues,
  getVariableValues,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { RequestContext } from '../context.js';
import type { Lookup } from '../providers/provider.js';
import { badUserInput } from '../upstream/errors.js';

/** A root-field argument that carries keys of a lookup (or keys checked like one): whose, and what a valid one is. */
export interface IdArgument {
  field: string;
  argument: string;
  lookup: Pick<Lookup<never, unknown>, 'provider' | 'key'>;
}

/**
 * Refuses, before it runs, an operation whose id lists and `_entities` representations hold more than
 * `maxItems` items in all, duplicates included, as GraphQL coerced them: default values count, and a
 * scalar given where a list is expected counts as the one-item list it becomes. This bounds the work
 * and the size of the answer even when the ids repeat (repeats cost no upstream call, but each is an
 * item of the answer). HTTP 400 with BAD_USER_INPUT, nothing sent upstream.
 *
 * Whether each id is valid, and how many distinct ids a provider gets, is checked where the id is used
 * (`RequestContext.load`): per item, so that one bad id or one id over the cap fails alone.
 */
export function inputGuardPlugin(idArguments: readonly IdArgument[], maxItems: number): ApolloServerPlugin<RequestContext> {
  const listArguments = new Map<string, string[]>();
  for (const { field, argument } of idArguments) listArguments.set(field, [...(listArguments.get(field) ?? []), argument]);
  listArguments.set('_entities', ['representations']);
  // Stateless, so one listener serves every request.
  const listener: GraphQLRequestListener<RequestContext> = {
    async didResolveOperation({ operation, document, schema, request }) {
      const query = schema.getQueryType();
      if (operation?.operation !== 'query' || query == null) return;
      const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], request.variables ?? {}, { maxErrors: 1 });
      // Invalid variables: execution reports them in GraphQL's own words.
      if (coerced.errors !== undefined) return;
      let items = 0;
      for (const field of rootFieldsOf(operation, document)) {
        const names = listArguments.get(field.name.value);
        if (names === undefined) continue;
        const values = argumentValues(query, field, coerced.coerced);
        for (const name of names) {
          const value = values?.[name];
          if (Array.isArray(value)) items += value.length;
        }
      }
      if (items > maxItems) {
        throw badUserInput(
          `This operation asks for ${items} ids and representations in all; at most ${maxItems} are allowed (MAX_LIST_ITEMS_PER_OPERATION)`,
          { limit: 'MAX_LIST_ITEMS_PER_OPERATION', max: maxItems, requested: items },
        );
      }
    },
  };
  return { requestDidStart: async () => listener };
}

/** The root fields of an operation depend on the document alone: found once per parsed document. */
const rootFieldCache = new WeakMap<OperationDefinitionNode, readonly FieldNode[]>();

function rootFieldsOf(operation: OperationDefinitionNode, document: DocumentNode): readonly FieldNode[] {
  let fields = rootFieldCache.get(operation);
  if (fields === undefined) {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    }
    fields = [...rootFields(operation.selectionSet, fragments, new Set())];
    rootFieldCache.set(operation, fields);
  }
  return fields;
}

/** The operation's root fields, looking through fragments spread at the root. */
function* rootFields(set: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, seen: Set<string>): Generator<FieldNode> {
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) yield selection;
    else if (selection.kind === Kind.INLINE_FRAGMENT) yield* rootFields(selection.selectionSet, fragments, seen);
    else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = fragments.get(selection.name.value);
      if (fragment) yield* rootFields(fragment.selectionSet, fragments, seen);
    }
  }
}

function argumentValues(
  query: GraphQLObjectType,
  node: FieldNode,
  variables: Record<string, unknown>,
): Record<string, unknown> | undefined {
  const definition = query.getFields()[node.name.value];
  if (definition === undefined) return undefined;
  try {
    return getArgumentValues(definition, node, variables);
  } catch {
    return undefined;
  }
}
