import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { type GraphQLSchema, parse } from 'graphql';
import { resolveEntitiesOneByOne } from './entities.js';
import { guardPartialRecords } from './plan/partial-records.js';
import type { Provider } from './providers/registry.js';

/** `schema/` holds the SDL, the source of truth; found from `src/` (tsx, vitest) and `dist/src/` (npm start). */
export function schemaDirectory(): string {
  for (const relative of ['../schema/', '../../schema/']) {
    const dir = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(join(dir, 'users.graphql'))) return dir;
  }
  throw new Error('schema/ not found next to src/ or dist/');
}

/**
 * The subgraph's SDL for `providers`: what every provider shares (`schema/users.graphql`: the `User`
 * interface, `Query`, the `Provider` enum) and each provider's own types and root fields.
 */
export function loadTypeDefs(providers: readonly Pick<Provider, 'id' | 'typeDefs'>[]): string {
  const dir = schemaDirectory();
  const own = providers.map((provider) => provider.typeDefs ?? readFileSync(join(dir, `${provider.id.name}.graphql`), 'utf8'));
  return [readFileSync(join(dir, 'users.graphql'), 'utf8'), ...own].join('\n');
}

/** The executable schema of `providers` (the registry's): `schema/`'s SDL with every provider's resolvers. */
export function buildSchema(providers: readonly Provider[]): GraphQLSchema {
  const schema = buildSubgraphSchema({
    typeDefs: parse(loadTypeDefs(providers)),
    resolvers: mergeResolvers(providers.map((p) => p.resolvers)),
  });
  resolveEntitiesOneByOne(schema);
  // A record served stale or incomplete answers only the fields it was fetched with (README, "Record cache").
  guardPartialRecords(
    schema,
    providers.flatMap((provider) => provider.lookups),
  );
  return schema;
}

function mergeResolvers(all: readonly object[]): GraphQLResolverMap<unknown> {
  const merged: Record<string, Record<string, unknown>> = {};
  for (const resolvers of all) {
    for (const [type, fields] of Object.entries(resolvers)) {
      merged[type] = { ...merged[type], ...(fields as Record<string, unknown>) };
    }
  }
  return merged as GraphQLResolverMap<unknown>;
}
