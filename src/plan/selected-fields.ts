import { type DocumentNode, type GraphQLSchema, isAbstractType, isObjectType, Kind, TypeInfo, visit, visitWithTypeInfo } from 'graphql';

/**
 * Every field an operation document can select, as schema coordinates (`XUser.pinnedTweet`,
 * `XTweet.text`), with fields selected on an interface counted for each type that implements it.
 *
 * This is the input of every provider's field plan: whatever shape the operation has — aliases,
 * named fragments, inline fragments on `User`, `_entities` with `... on XUser` — a field appears here
 * once, so each provider can ask its upstream for exactly the union of what is selected, in the first
 * call, and never needs a second round trip for a field it meets later.
 *
 * `@skip`/`@include` are not evaluated: a field that may be selected is planned for (the plan depends
 * on the document alone, so it can be cached per document).
 */
import type { SelectedFields } from '../core/types.js';

export type { SelectedFields };

const cache = new WeakMap<DocumentNode, SelectedFields>();

export function selectedFields(schema: GraphQLSchema, document: DocumentNode): SelectedFields {
  let fields = cache.get(document);
  if (fields === undefined) {
    fields = collect(schema, document);
    cache.set(document, fields);
  }
  return fields;
}

function collect(schema: GraphQLSchema, document: DocumentNode): SelectedFields {
  const fields = new Set<string>();
  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      [Kind.FIELD](node) {
        const parent = typeInfo.getParentType();
        if (parent === null || node.name.value.startsWith('__')) return;
        if (isObjectType(parent)) {
          fields.add(`${parent.name}.${node.name.value}`);
        } else if (isAbstractType(parent)) {
          for (const type of schema.getPossibleTypes(parent)) fields.add(`${type.name}.${node.name.value}`);
        }
      },
    }),
  );
  return fields;
}
