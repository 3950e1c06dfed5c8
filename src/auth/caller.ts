/**
 * Who sent a request, as far as this subgraph can tell (docs/access-control.md, "Access control"): built once per
 * request from its headers (`identify.ts`), before anything runs, and read by the resolvers of
 * protected fields.
 */
export interface Caller {
  /** Sent the shared secret, or a JWT that verified. */
  readonly authenticated: boolean;
  /** What the caller may see beyond `@authenticated`: the scopes its credentials grant. */
  readonly scopes: ReadonlySet<string>;
}

/** A caller that sent no credentials. */
export const ANONYMOUS: Caller = Object.freeze({ authenticated: false, scopes: new Set<string>() });
