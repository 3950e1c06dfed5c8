import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { type GraphQLSchema, Kind, parse, print, visit } from 'graphql';
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

export interface SchemaOptions {
  /**
   * Whether `_service { sdl }` carries `@authenticated` and `@requiresScopes` (AUTH_DIRECTIVES_IN_SDL).
   * Off by default: `@apollo/gateway`, Hive Gateway and an Apollo Router without GraphOS refuse to
   * compose or start on them. The subgraph enforces them itself either way (`src/auth/`).
   */
  accessDirectivesInSdl: boolean;
}

/** The executable schema of `providers` (the registry's): `schema/`'s SDL with every provider's resolvers. */
export function buildSchema(providers: readonly Provider[], options: SchemaOptions = { accessDirectivesInSdl: false }): GraphQLSchema {
  const schema = buildSubgraphSchema({
    typeDefs: parse(loadTypeDefs(providers)),
    resolvers: mergeResolvers(providers.map((p) => p.resolvers)),
  });
  if (!options.accessDirectivesInSdl) {
    const service = schema.getQueryType()!.getFields()._service!;
    const { sdl } = (service.resolve as () => { sdl: string })();
    const published = { sdl: withoutAccessDirectives(sdl) };
    service.resolve = () => published;
  }
  resolveEntitiesOneByOne(schema);
  // A record served stale or incomplete answers only the fields it was fetched with (docs/sharing.md, "Record cache").
  guardPartialRecords(
    schema,
    providers.flatMap((provider) => provider.lookups),
  );
  return schema;
}

/** Federation's access directives, as the subgraph SDL names them (imported, or by their `federation__` names). */
const ACCESS_DIRECTIVES = new Set(['authenticated', 'requiresScopes', 'federation__authenticated', 'federation__requiresScopes']);

/**
 * `sdl` without the access directives: their uses, their definitions, their `@link` imports and the
 * `Scope` scalar only they use. What is left composes anywhere a federation 2 subgraph does.
 */
export function withoutAccessDirectives(sdl: string): string {
  const stripped = visit(parse(sdl), {
    Directive(node) {
      if (ACCESS_DIRECTIVES.has(node.name.value)) return null;
      if (node.name.value !== 'link') return undefined;
      return {
        ...node,
        arguments: node.arguments?.map((argument) =>
          argument.name.value === 'import' && argument.value.kind === Kind.LIST
            ? {
                ...argument,
                value: {
                  ...argument.value,
                  values: argument.value.values.filter(
                    (value) => !(value.kind === Kind.STRING && ACCESS_DIRECTIVES.has(value.value.replace(/^@/, ''))),
                  ),
                },
              }
            : argument,
        ),
      };
    },
    DirectiveDefinition(node) {
      return ACCESS_DIRECTIVES.has(node.name.value) ? null : undefined;
    },
    ScalarTypeDefinition(node) {
      return node.name.value === 'federation__Scope' || node.name.value === 'Scope' ? null : undefined;
    },
  });
  return print(stripped);
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
