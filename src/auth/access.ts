import { defaultFieldResolver, GraphQLError, type GraphQLFieldResolver, type GraphQLSchema, isObjectType } from 'graphql';
import type { Logger } from 'pino';
import type { SelectedFields } from '../core/types.js';
import type { Caller } from './caller.js';
import type { AuthConfig } from './config.js';
import { type AccessRule, accessRules, type Refusal, refusalOf } from './directives.js';
import { createIdentify, type Identify } from './identify.js';

/**
 * Access control without a router (docs/access-control.md, "Access control"): the subgraph enforces the schema's
 * `@authenticated` and `@requiresScopes` itself. Only the protected fields' resolvers are wrapped, so
 * every other field resolves exactly as before; a refused field is `null` with an UNAUTHENTICATED or
 * FORBIDDEN error at its path, and the rest of the result stands. `narrow` takes the refused fields out
 * of the operation's field plan, so nothing is fetched upstream for what the caller may not see.
 */
export interface AccessControl {
  /** The caller of a request, from its headers; rejects with HTTP 401 (or 503) as `createIdentify` says. */
  identify: Identify;
  /** `selected` without the fields `caller` may not see; `selected` itself when there are none. */
  narrow(selected: SelectedFields, caller: Caller): SelectedFields;
  /** The protected fields, by coordinate. */
  readonly rules: ReadonlyMap<string, AccessRule>;
}

/** Reads the rules of `schema` and, when they are enforced, wraps the protected fields' resolvers in place. */
export function enforceAccess(schema: GraphQLSchema, auth: AuthConfig, logger: Logger): AccessControl {
  const rules = accessRules(schema);
  const identify = createIdentify(auth, logger);
  if (!auth.enforced) {
    if (rules.size > 0) logger.warn('protected fields are served to every caller (AUTH_PERSONAL_DATA=open, or the demo)');
    return { identify, narrow: (selected) => selected, rules };
  }
  const noWayIn = auth.sharedSecret === undefined && auth.jwt === undefined;
  for (const rule of rules.values()) protect(schema, rule, noWayIn);
  return { identify, narrow: narrower(rules), rules };
}

/** What a protected field's resolver reads of its request: who sent it. */
interface CallerContext {
  caller: Caller;
}

function protect(schema: GraphQLSchema, rule: AccessRule, noWayIn: boolean): void {
  const [typeName, fieldName] = rule.coordinate.split('.') as [string, string];
  const type = schema.getType(typeName);
  const field = isObjectType(type) ? type.getFields()[fieldName] : undefined;
  if (field === undefined) throw new Error(`${rule.coordinate} is not a field of the schema`);
  const resolve: GraphQLFieldResolver<unknown, CallerContext> = field.resolve ?? defaultFieldResolver;
  const messages: Record<Refusal, string> = {
    UNAUTHENTICATED: noWayIn
      ? `${rule.coordinate} ${requirement(rule)}, and this subgraph authenticates no caller: set AUTH_SHARED_SECRET or AUTH_JWKS_URL ` +
        'to serve it to authenticated callers, or AUTH_PERSONAL_DATA=open to serve protected fields to every caller'
      : `${rule.coordinate} ${requirement(rule)}`,
    FORBIDDEN: `${rule.coordinate} ${requirement(rule)}, which this caller's credentials do not grant`,
  };
  field.resolve = (source, args, context: CallerContext, info) => {
    const refusal = refusalOf(rule, context.caller);
    if (refusal !== undefined) throw new GraphQLError(messages[refusal], { extensions: { code: refusal, field: rule.coordinate } });
    return resolve(source, args, context, info);
  };
}

/** "requires an authenticated caller with scope a (or b and c)": what a message says a field needs. */
function requirement(rule: AccessRule): string {
  const conditions = rule.scopes.map((alternatives) => alternatives.map((all) => all.join(' and ')).join(' or '));
  return conditions.length === 0
    ? 'requires an authenticated caller'
    : `requires an authenticated caller with scope ${conditions.join('; and ')}`;
}

/**
 * What a field plan becomes for a caller. It depends on the document and on which of its protected
 * fields the caller may see, so it is computed once per selection and refusal set: a repeated
 * operation costs a WeakMap hit and a check per protected field it selects, and keeps handing the
 * same object to the loaders (whose field sets are cached by it).
 */
function narrower(rules: ReadonlyMap<string, AccessRule>): AccessControl['narrow'] {
  const bySelection = new WeakMap<SelectedFields, { rules: AccessRule[]; narrowed: Map<string, SelectedFields> }>();
  return (selected, caller) => {
    let entry = bySelection.get(selected);
    if (entry === undefined) {
      entry = { rules: [...selected].flatMap((coordinate) => rules.get(coordinate) ?? []), narrowed: new Map() };
      bySelection.set(selected, entry);
    }
    if (entry.rules.length === 0) return selected;
    const refused = entry.rules.filter((rule) => refusalOf(rule, caller) !== undefined).map((rule) => rule.coordinate);
    if (refused.length === 0) return selected;
    const key = refused.join('\n');
    let narrowed = entry.narrowed.get(key);
    if (narrowed === undefined) {
      const without = new Set(selected);
      for (const coordinate of refused) without.delete(coordinate);
      narrowed = without;
      entry.narrowed.set(key, narrowed);
    }
    return narrowed;
  };
}
