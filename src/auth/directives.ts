import {
  type ConstDirectiveNode,
  type GraphQLNamedType,
  type GraphQLSchema,
  getNamedType,
  isObjectType,
  type ValueNode,
  valueFromASTUntyped,
} from 'graphql';
import type { Caller } from './caller.js';

/**
 * The access rules the schema declares with federation's `@authenticated` and `@requiresScopes`, as
 * Apollo Router reads them: a field is protected by the directives on it and on the type it returns
 * (federation allows neither on interfaces). Read from the schema itself, so the schema files stay the
 * one list of what is protected.
 */
export interface AccessRule {
  /** `Type.field`. */
  readonly coordinate: string;
  /**
   * Every entry must hold: each is a list of alternatives (one suffices), each alternative a list of
   * scopes the caller must all have. `[]`: authentication alone suffices.
   */
  readonly scopes: ReadonlyArray<ReadonlyArray<ReadonlyArray<string>>>;
}

export type Refusal = 'UNAUTHENTICATED' | 'FORBIDDEN';

/** Why `caller` may not see what `rule` protects, or `undefined` when it may. Scopes come only with authentication. */
export function refusalOf(rule: AccessRule, caller: Caller): Refusal | undefined {
  if (!caller.authenticated) return 'UNAUTHENTICATED';
  for (const alternatives of rule.scopes) {
    if (!alternatives.some((all) => all.every((scope) => caller.scopes.has(scope)))) return 'FORBIDDEN';
  }
  return undefined;
}

/** The rules of every protected field of `schema`, by coordinate (object types only: those are what resolve). */
export function accessRules(schema: GraphQLSchema): ReadonlyMap<string, AccessRule> {
  const names = directiveNames(schema);
  const rules = new Map<string, AccessRule>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      const sources = [...(field.astNode?.directives ?? []), ...directivesOfType(getNamedType(field.type))];
      let protectedField = false;
      const scopes: string[][][] = [];
      for (const directive of sources) {
        const name = directive.name.value;
        if (name === names.authenticated) protectedField = true;
        else if (name === names.requiresScopes) {
          protectedField = true;
          scopes.push(scopesArgument(directive));
        }
      }
      if (protectedField) {
        const coordinate = `${type.name}.${field.name}`;
        rules.set(coordinate, { coordinate, scopes });
      }
    }
  }
  return rules;
}

/** `scopes: [["a", "b"], ["c"]]` as lists; a malformed argument fails start-up rather than open a field. */
function scopesArgument(directive: ConstDirectiveNode): string[][] {
  const argument = directive.arguments?.find((a) => a.name.value === 'scopes');
  const value = argument === undefined ? undefined : valueFromASTUntyped(argument.value as ValueNode);
  if (!Array.isArray(value) || !value.every((all) => Array.isArray(all) && all.every((scope) => typeof scope === 'string'))) {
    throw new Error(`@${directive.name.value} needs scopes: [[String!]!]!`);
  }
  return value as string[][];
}

function directivesOfType(type: GraphQLNamedType): ConstDirectiveNode[] {
  return [type.astNode, ...type.extensionASTNodes].flatMap((node) => node?.directives ?? []);
}

/**
 * The names the two directives have in this schema, from federation's `@link`: imported, they keep
 * their name (or the `as` they were given); not imported, they are `federation__authenticated` and
 * so on (or under the link's own `as`).
 */
function directiveNames(schema: GraphQLSchema): { authenticated: string; requiresScopes: string } {
  let prefix = 'federation';
  const imported = new Map<string, string>();
  for (const node of [schema.astNode, ...schema.extensionASTNodes]) {
    for (const link of node?.directives ?? []) {
      if (link.name.value !== 'link') continue;
      const args = Object.fromEntries((link.arguments ?? []).map((a) => [a.name.value, valueFromASTUntyped(a.value)]));
      if (typeof args.url !== 'string' || !/\/\/specs\.apollo\.dev\/federation\//.test(args.url)) continue;
      if (typeof args.as === 'string') prefix = args.as;
      for (const entry of Array.isArray(args.import) ? args.import : []) {
        if (typeof entry === 'string') imported.set(entry, entry);
        else if (entry !== null && typeof entry === 'object' && typeof entry.name === 'string') {
          imported.set(entry.name, typeof entry.as === 'string' ? entry.as : entry.name);
        }
      }
    }
  }
  const nameOf = (directive: string) => (imported.get(`@${directive}`) ?? `@${prefix}__${directive}`).slice(1);
  return { authenticated: nameOf('authenticated'), requiresScopes: nameOf('requiresScopes') };
}
