import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { CodegenConfig } from '@graphql-codegen/cli';
import { type DefinitionNode, Kind, type ObjectTypeDefinitionNode, type ObjectTypeExtensionNode, parse } from 'graphql';

/**
 * Typed resolvers from `schema/` (the source of truth). Mappers point each GraphQL type at the
 * upstream record its resolvers receive as parent, so a resolver that reads a field the upstream
 * does not send fails to compile. Each provider lists its own in `src/providers/<name>/mappers.json`
 * (paths relative to that folder); this file gathers them, naming no provider.
 * `npm run codegen:check` (part of `npm test`) fails when the generated file is stale.
 */
const providersDir = 'src/providers';
const mappers: Record<string, string> = {};
for (const name of readdirSync(providersDir).sort()) {
  const file = `${providersDir}/${name}/mappers.json`;
  if (!existsSync(file)) continue;
  const own = (JSON.parse(readFileSync(file, 'utf8')) as { mappers: Record<string, string> }).mappers;
  for (const [type, target] of Object.entries(own)) {
    mappers[type] = target.replace(/^\.\//, `../providers/${name}/`);
  }
}

/** Every definition in schema/ (the files in name order). */
function schemaDefinitions(): readonly DefinitionNode[] {
  return readdirSync('schema')
    .filter((file) => file.endsWith('.graphql'))
    .sort()
    .flatMap((file) => parse(readFileSync(`schema/${file}`, 'utf8')).definitions);
}

/**
 * Each entity's key fields, read off its `@key` (the first, when a type has several), by type name in order. The one
 * reading of `@key` that both client kits use, so that Apollo's type policies and urql's keys cannot disagree.
 */
function entityKeys(): Array<[type: string, fields: string[]]> {
  const keys: Array<[string, string[]]> = [];
  for (const definition of schemaDefinitions()) {
    if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION) continue;
    const key = definition.directives?.find((d) => d.name.value === 'key');
    const fields = key?.arguments?.find((a) => a.name.value === 'fields')?.value;
    if (fields?.kind !== Kind.STRING) continue;
    // A nested key (`owner { id }`) would come out of the split below as field names `owner`, `{`, ...: refuse it
    // here rather than generate keys that read fields that are not there.
    if (/[{}]/.test(fields.value)) throw new Error(`${definition.name.value}: nested @key fields are not supported by the client kits`);
    keys.push([definition.name.value, fields.value.trim().split(/\s+/)]);
  }
  return keys.sort(([a], [b]) => a.localeCompare(b));
}

/**
 * For Apollo Client (docs/schema.md, "Apollo Client"): how its cache must key each entity, read off the schema's
 * `@key` directives, so a key that is not `id` alone (Bitrix24's `portal id`) cannot be forgotten.
 */
function typePolicies(): string {
  const policies = Object.fromEntries(entityKeys().map(([type, keyFields]) => [type, { keyFields }]));
  return [
    "/** Type policies for Apollo Client's InMemoryCache: every entity keyed as its `@key` says (ids are unique only within a provider). */",
    `export const typePolicies = ${JSON.stringify(policies, null, 2)} as const;`,
    '',
  ].join('\n');
}

/**
 * For urql's Graphcache: `keys` from the same `@key`s as Apollo's type policies, `possibleTypes` for fragments on an
 * interface, and `resolvers` that keep a partial list. Graphcache's other way to know the interfaces and which list
 * items may be null, its `schema` option, is no option here: Graphcache takes any schema it is given as the whole schema
 * and throws on a type it does not list (a minimal one listing only the interface fails on `Query`), and a client sees
 * the supergraph, with other subgraphs' types that this schema lacks.
 */
function urqlGraphcache(): string {
  const definitions = schemaDefinitions();
  const roots = new Set(['Query', 'Mutation', 'Subscription']);
  for (const definition of definitions) {
    if (definition.kind === Kind.SCHEMA_DEFINITION || definition.kind === Kind.SCHEMA_EXTENSION) {
      for (const operation of definition.operationTypes ?? []) roots.add(operation.type.name.value);
    }
  }
  const objects = definitions.filter(
    (d): d is ObjectTypeDefinitionNode | ObjectTypeExtensionNode =>
      d.kind === Kind.OBJECT_TYPE_DEFINITION || d.kind === Kind.OBJECT_TYPE_EXTENSION,
  );
  const byName = (a: string, b: string) => a.localeCompare(b);

  const entities = new Map(entityKeys());
  // Object types that are not entities are values of their parent: keyed null, Graphcache stores them inside it
  // (as it would anyway, for want of an id) without warning on every write that it found no key.
  const values = objects
    .filter((d) => d.kind === Kind.OBJECT_TYPE_DEFINITION && !entities.has(d.name.value) && !roots.has(d.name.value))
    .map((d) => d.name.value)
    .sort(byName);

  const abstract = new Map<string, Set<string>>();
  const member = (parent: string, type: string) => abstract.set(parent, (abstract.get(parent) ?? new Set()).add(type));
  for (const definition of definitions) {
    if (definition.kind === Kind.OBJECT_TYPE_DEFINITION || definition.kind === Kind.OBJECT_TYPE_EXTENSION) {
      for (const iface of definition.interfaces ?? []) member(iface.name.value, definition.name.value);
    }
    if (definition.kind === Kind.UNION_TYPE_DEFINITION || definition.kind === Kind.UNION_TYPE_EXTENSION) {
      for (const type of definition.types ?? []) member(definition.name.value, type.name.value);
    }
  }
  const possibleTypes = Object.fromEntries(
    [...abstract].sort(([a], [b]) => byName(a, b)).map(([name, types]) => [name, [...types].sort(byName)]),
  );

  // Lists of objects whose items may be null (every lookup: `[XUser]!`), by type and field.
  const composite = new Set([...objects.map((d) => d.name.value), ...abstract.keys()]);
  const lists = new Map<string, string[]>();
  for (const definition of objects) {
    for (const field of definition.fields ?? []) {
      const type = field.type.kind === Kind.NON_NULL_TYPE ? field.type.type : field.type;
      if (type.kind !== Kind.LIST_TYPE || type.type.kind !== Kind.NAMED_TYPE || !composite.has(type.type.name.value)) continue;
      lists.set(definition.name.value, [...(lists.get(definition.name.value) ?? []), field.name.value].sort(byName));
    }
  }
  const resolvers = [...lists].sort(([a], [b]) => byName(a, b));

  return [
    '/**',
    " * For urql's Graphcache (@urql/exchange-graphcache): `cacheExchange({ keys, possibleTypes, resolvers })`. It imports",
    ' * nothing, so that it can be copied into a client as it is.',
    ' */',
    '',
    '/** What Graphcache hands a key function: the entity as selected. */',
    'type Selected = { readonly [field: string]: unknown };',
    '',
    'const warned = new Set<string>();',
    '',
    '/**',
    " * An entity's key from its `@key` fields. Two or more are joined with `|`, each with `\\` and `|` escaped so that no two",
    ' * entities share a key (`Bitrix24User:acme.bitrix24.com|7`); one alone is its value, as Graphcache keys by `id` itself.',
    ' * A selection without every key field gets null: Graphcache then stores the entity inside its parent, unshared but',
    " * never mixed up with another (a key built without `portal` would merge two portals' users). Graphcache says nothing",
    ' * about a null from a key function, so this warns, once per type.',
    ' */',
    'function keyOf(typename: string, fields: readonly string[], entity: Selected): string | null {',
    '  const missing = fields.filter((field) => entity[field] === undefined || entity[field] === null);',
    '  if (missing.length > 0) {',
    '    if (!warned.has(typename)) {',
    '      warned.add(typename);',
    '      console.warn(',
    "        'Graphcache: ' + typename + ' selected without ' + missing.join(', ') + ', so it is not normalized; select ' +",
    "          fields.join(' ') + ' wherever ' + typename + ' is queried.',",
    '      );',
    '    }',
    '    return null;',
    '  }',
    '  const values = fields.map((field) => String(entity[field]));',
    "  return values.length === 1 ? values[0]! : values.map((value) => value.replace(/[\\\\|]/g, '\\\\$&')).join('|');",
    '}',
    '',
    '/** Graphcache `keys`: every entity keyed as its `@key` says (ids are unique only within a provider); other object types embedded (null). */',
    'export const keys = {',
    ...[...entities].map(
      ([type, fields]) =>
        `  ${type}: (entity: Selected): string | null => keyOf('${type}', [${fields.map((field) => `'${field}'`).join(', ')}], entity),`,
    ),
    ...values.map((type) => `  ${type}: (): null => null,`),
    '};',
    '',
    '/** Graphcache `possibleTypes`: the object types of each interface and union, so that a fragment on one matches for certain. */',
    `export const possibleTypes = ${JSON.stringify(possibleTypes, null, 2)};`,
    '',
    '/**',
    ' * A list whose items may be null, read as stored. Graphcache does not store an item that came back null with an error',
    ' * at its index (a user not found); reading the list back, it takes the gap for a cache miss unless a schema says the',
    ' * items are nullable, and the whole result comes out `data: null`. Its `cache.resolve` gives the gap as null instead,',
    ' * and the read is flagged partial, as Graphcache does itself with a schema: a `cache-first` read shows the cached list',
    ' * at once and asks the server again in the background, which brings back the error that says why the item is null.',
    ' */',
    'function listWithNulls<T>(',
    '  _parent: unknown,',
    '  _args: unknown,',
    '  cache: { resolve(entity: string, fieldKey: string): T },',
    '  info: { parentKey: string; parentFieldKey: string; partial?: boolean },',
    '): T {',
    '  const list = cache.resolve(info.parentKey, info.parentFieldKey);',
    '  if (Array.isArray(list) && list.includes(null)) info.partial = true;',
    '  return list;',
    '}',
    '',
    "/** Graphcache `resolvers`: every list of objects whose items may be null (each lookup's, aligned with its ids) keeps the others when one is null. */",
    'export const resolvers = {',
    ...resolvers.flatMap(([type, fields]) => [`  ${type}: {`, ...fields.map((field) => `    ${field}: listWithNulls,`), '  },']),
    '};',
    '',
  ].join('\n');
}

const GENERATED = '// Generated by `npm run codegen` from schema/. Do not edit.';

const config: CodegenConfig = {
  schema: 'schema/*.graphql',
  generates: {
    'src/generated/resolvers-types.ts': {
      plugins: [
        { add: { content: '/* eslint-disable */\n// Generated by `npm run codegen` from schema/. Do not edit.' } },
        'typescript',
        'typescript-resolvers',
      ],
      config: {
        federation: true,
        useIndexSignature: true,
        useTypeImports: true,
        enumsAsTypes: true,
        contextType: '../core/lookup.js#ResolverContext',
        mappers,
        scalars: { ID: 'string', DateTime: 'string' },
      },
    },
    // What an Apollo Client imports (src/generated/client/): which types implement the interface, and how to key each entity.
    'src/generated/client/possible-types.ts': {
      plugins: [{ add: { content: GENERATED } }, 'fragment-matcher'],
      config: { useExplicitTyping: true },
    },
    'src/generated/client/type-policies.ts': {
      plugins: [{ add: { content: `${GENERATED}\n${typePolicies()}` } }],
    },
    // What an urql client with Graphcache imports: its `keys`, `possibleTypes` and `resolvers`.
    'src/generated/client/urql-graphcache.ts': {
      plugins: [{ add: { content: `${GENERATED}\n${urqlGraphcache()}` } }],
    },
  },
};

export default config;
