import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  getArgumentValues,
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
 * Refuses an operation before it runs — so nothing at all is sent upstream — when a root field is
 * given a malformed id, or when the operation asks for more ids in all than `maxIds` (root-field id
 * lists and `_entities` representations added up; duplicates count, as they cost the caller's
 * payload). Both answer HTTP 400 with `extensions.code` BAD_USER_INPUT.
 */
export function inputGuardPlugin(idArguments: readonly IdArgument[], maxIds: number): ApolloServerPlugin<RequestContext> {
  const byField = new Map<string, IdArgument[]>();
  for (const argument of idArguments) byField.set(argument.field, [...(byField.get(argument.field) ?? []), argument]);
  // Stateless, so one listener serves every request.
  const listener: GraphQLRequestListener<RequestContext> = {
    async didResolveOperation({ operation, document, schema, request }) {
      const query = schema.getQueryType();
      if (operation?.operation !== 'query' || query == null) return;
      let total = 0;
      for (const field of rootFieldsOf(operation, document)) {
        const values = argumentValues(query, field, request.variables ?? {});
        if (values === undefined) continue;
        const name = field.name.value;
        if (name === '_entities') {
          total += listLength(values.representations);
          continue;
        }
        for (const spec of byField.get(name) ?? []) {
          const ids = values[spec.argument];
          if (!Array.isArray(ids)) continue;
          total += ids.length;
          const { provider, key } = spec.lookup;
          const invalid = (id: unknown) => typeof id !== 'string' || !key.isValid(id);
          const bad = ids.findIndex(invalid);
          if (bad >= 0) {
            const others = ids.filter(invalid).length - 1;
            throw badUserInput(
              `${name}: ${spec.argument}[${bad}] ${JSON.stringify(ids[bad])} is not ${key.expected}` +
                (others > 0 ? ` (and ${others} more invalid)` : ''),
              { provider: provider.name, id: String(ids[bad]), argument: spec.argument, index: bad },
            );
          }
        }
      }
      if (total > maxIds) {
        throw badUserInput(`This operation asks for ${total} ids; at most ${maxIds} are allowed per operation (MAX_IDS_PER_OPERATION)`, {
          limit: maxIds,
          requested: total,
        });
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
    for (const def of document.definitions) {
      if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    }
    fields = [...rootFields(operation, fragments)];
    rootFieldCache.set(operation, fields);
  }
  return fields;
}

/** The operation's root fields, looking through fragments spread at the root. */
function* rootFields(operation: OperationDefinitionNode, fragments: Map<string, FragmentDefinitionNode>): Generator<FieldNode> {
  function* walk(set: SelectionSetNode, seen: Set<string>): Generator<FieldNode> {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) yield selection;
      else if (selection.kind === Kind.INLINE_FRAGMENT) yield* walk(selection.selectionSet, seen);
      else if (!seen.has(selection.name.value)) {
        seen.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) yield* walk(fragment.selectionSet, seen);
      }
    }
  }
  yield* walk(operation.selectionSet, new Set());
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
    // Invalid variables: execution reports them in GraphQL's own words.
    return undefined;
  }
}

function listLength(value: unknown): number {
  return Array.isArray(value) ? value.length : 0;
}
