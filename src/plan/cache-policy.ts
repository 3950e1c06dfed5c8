import {
  type DirectiveNode,
  type DocumentNode,
  type GraphQLCompositeType,
  type GraphQLSchema,
  getNamedType,
  isAbstractType,
  isCompositeType,
  Kind,
  TypeInfo,
  visit,
  visitWithTypeInfo,
} from 'graphql';

/**
 * How long a response may be reused by a cache above the subgraph, and by whom (docs/sharing.md, "Cache-Control for the layers above"): computed from the `@cacheControl` hints of what a document selects, once per document.
 *
 * Apollo Server's cache-control plugin computes the same thing while the operation runs, with a hook on
 * every field resolved; here the document alone decides, so it costs nothing per field and is cached
 * with the document. The rules, close to Apollo's:
 * - a field's own hint applies; else the hint of the composite type it returns; for an abstract type
 *   without one, the strictest hint of the types it can be;
 * - a root field whose type has no hint makes the response uncacheable (`_service`, introspection);
 * - any other field without a hint (a scalar, a nested object) adds no constraint: it is part of the
 *   record its parent came in;
 * - a field that needs the caller's rights (`@authenticated`, `@requiresScopes`) makes it PRIVATE.
 * `@skip`/`@include` are not evaluated: a field that may be selected counts (the answer may only get
 * stricter).
 */
export interface CachePolicy {
  /** Seconds; 0: not to be reused. */
  maxAge: number;
  scope: 'PUBLIC' | 'PRIVATE';
}

/** Each type's cap on its hint (its provider's configured record TTL), by type name. */
export type MaxAgeCaps = ReadonlyMap<string, number>;

const RIGHTS_DIRECTIVES = new Set(['authenticated', 'requiresScopes', 'policy']);

export class CachePolicies {
  private readonly byDocument = new WeakMap<DocumentNode, CachePolicy>();

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly caps: MaxAgeCaps = new Map(),
  ) {}

  of(document: DocumentNode): CachePolicy {
    let policy = this.byDocument.get(document);
    if (policy === undefined) {
      policy = this.compute(document);
      this.byDocument.set(document, policy);
    }
    return policy;
  }

  private compute(document: DocumentNode): CachePolicy {
    let maxAge = Number.POSITIVE_INFINITY;
    let scope: CachePolicy['scope'] = 'PUBLIC';
    const restrict = (hint: Hint | undefined) => {
      if (hint?.maxAge !== undefined) maxAge = Math.min(maxAge, hint.maxAge);
      if (hint?.scope === 'PRIVATE') scope = 'PRIVATE';
    };
    const typeInfo = new TypeInfo(this.schema);
    const roots = new Set<unknown>([this.schema.getQueryType(), this.schema.getMutationType(), this.schema.getSubscriptionType()]);
    visit(
      document,
      visitWithTypeInfo(typeInfo, {
        [Kind.FIELD]: (node) => {
          const parent = typeInfo.getParentType();
          const field = typeInfo.getFieldDef();
          const atRoot = parent !== null && roots.has(parent);
          if (node.name.value === '__typename') return;
          if (field === null || field === undefined || node.name.value.startsWith('__')) {
            // Introspection (`__schema`, `__type`) or a field the document invented (validation refuses it).
            if (atRoot) maxAge = 0;
            return;
          }
          if (hasRightsDirective(field.astNode?.directives)) scope = 'PRIVATE';
          const own = hintOf(field.astNode?.directives);
          restrict(own);
          if (own?.maxAge !== undefined) return;
          const type = getNamedType(field.type);
          if (!isCompositeType(type)) return;
          const hints = this.typeHints(type);
          if (hints.length === 0 || hints.some((hint) => hint?.maxAge === undefined)) {
            // A type with no hint is not cacheable at the root; below it, it is part of its parent's record.
            if (atRoot) maxAge = 0;
          }
          for (const hint of hints) restrict(hint);
        },
      }),
    );
    return { maxAge: Number.isFinite(maxAge) ? maxAge : 0, scope };
  }

  /** The hints of a composite type: its own, or for an abstract type without one, each possible type's. */
  private typeHints(type: GraphQLCompositeType): Array<Hint | undefined> {
    const own = this.capped(type.name, hintOf(type.astNode?.directives));
    if (own !== undefined || !isAbstractType(type)) return [own];
    return this.schema.getPossibleTypes(type).map((possible) => this.capped(possible.name, hintOf(possible.astNode?.directives)));
  }

  private capped(typeName: string, hint: Hint | undefined): Hint | undefined {
    const cap = this.caps.get(typeName);
    if (hint?.maxAge === undefined || cap === undefined) return hint;
    return { ...hint, maxAge: Math.min(hint.maxAge, cap) };
  }
}

interface Hint {
  maxAge?: number;
  scope?: CachePolicy['scope'];
}

function hintOf(directives: readonly DirectiveNode[] | undefined): Hint | undefined {
  const directive = directives?.find((d) => d.name.value === 'cacheControl');
  if (directive === undefined) return undefined;
  const hint: Hint = {};
  for (const argument of directive.arguments ?? []) {
    if (argument.name.value === 'maxAge' && argument.value.kind === Kind.INT) hint.maxAge = Number(argument.value.value);
    if (argument.name.value === 'scope' && argument.value.kind === Kind.ENUM) hint.scope = argument.value.value as CachePolicy['scope'];
  }
  return hint;
}

function hasRightsDirective(directives: readonly DirectiveNode[] | undefined): boolean {
  return directives?.some((d) => RIGHTS_DIRECTIVES.has(d.name.value)) ?? false;
}

/** The header value for a policy: `max-age=N, public|private`, or `no-store`. */
export function cacheControlHeader(policy: CachePolicy): string {
  return policy.maxAge > 0 ? `max-age=${policy.maxAge}, ${policy.scope.toLowerCase()}` : 'no-store';
}
