import { GraphQLError, type GraphQLFieldResolver, type GraphQLSchema, isUnionType } from 'graphql';

/**
 * `_entities` with a failure per representation. @apollo/subgraph's resolver throws for the whole list
 * when one representation names a type it does not know, so a gateway's batch of 500 loses 499 good
 * answers to one bad one. Here each representation is resolved on its own: one that is not an object
 * with the `__typename` of an entity of this subgraph fails alone with BAD_USER_INPUT, and a bad key
 * fails alone where its type checks it (`RequestContext.load`).
 */
export function resolveEntitiesOneByOne(schema: GraphQLSchema): void {
  const field = schema.getQueryType()?.getFields()._entities;
  const entityUnion = schema.getType('_Entity');
  if (field?.resolve === undefined || !isUnionType(entityUnion)) return;
  const resolveAll = field.resolve as GraphQLFieldResolver<unknown, unknown, { representations: unknown[] }>;
  const entities = new Set(entityUnion.getTypes().map((type) => type.name));
  field.resolve = (source, args: { representations: unknown[] }, context, info) =>
    args.representations.map((representation, index) => {
      const typename = isObject(representation) ? representation.__typename : undefined;
      if (typeof typename !== 'string' || !entities.has(typename)) return Promise.reject(notAnEntity(typename, index));
      try {
        return (resolveAll(source, { representations: [representation] }, context, info) as unknown[])[0];
      } catch (error) {
        return Promise.reject(error);
      }
    });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function notAnEntity(typename: unknown, index: number): GraphQLError {
  const named =
    typeof typename === 'string'
      ? `__typename ${JSON.stringify(typename.slice(0, 100))} is not an entity of this subgraph`
      : 'it has no __typename';
  return new GraphQLError(`Representation ${index} cannot be resolved: ${named}`, { extensions: { code: 'BAD_USER_INPUT' } });
}
