import { GraphQLError, type GraphQLFieldResolver, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import { type IdArgument, shownKey } from '../core/lookup.js';

const LIST_ITEMS_LIMIT = 'MAX_LIST_ITEMS_PER_OPERATION';

/**
 * The ceiling on raw list items one operation may hand this subgraph (README, "Limits"): items of id
 * lists and `_entities` representations, duplicates included, as GraphQL coerced them (default values,
 * and a scalar given for a list as the one-item list it becomes), counted in the order the root fields
 * run. Items beyond `maxItems` are never resolved: each answers `null` and BAD_USER_INPUT at its own
 * index (the limit named), the items before it are answered as usual, and the response is HTTP 200,
 * which a gateway passes on item by item. A refused request (HTTP 400) would reach a gateway's client
 * as one opaque error for every item of the fetch, including those within the limit.
 *
 * This bounds the work of the items that run (their resolvers, their share of the answer) whatever the
 * list holds, repeats included, which cost no upstream call but are items of the answer. What costs
 * upstream calls, distinct ids per provider, is capped separately and much lower, where each id is
 * used (`RequestContext.admit`, MAX_IDS_PER_OPERATION). The errors are bounded too: at most `maxItems`
 * in all (at least one per list cut); items beyond those answer `null`, and the last error of their
 * list says how many (`extensions.alsoNotResolved`). So a hostile megabyte of ids costs at most
 * `maxItems` items resolved and `maxItems` errors, and never a refused request.
 *
 * Two parts: `guardListItems` wraps the schema's root fields that take lists (once, at start-up), and
 * `budgetListItems` gives each request its budget of `maxItems` (`src/plugins/list-items.ts`).
 */
export class ListItemBudget {
  private itemsLeft: number;
  /** Errors this request may still answer for items beyond `max` (as many as the limit). */
  private errorsLeft: number;

  constructor(readonly max: number) {
    this.itemsLeft = max;
    this.errorsLeft = max;
  }

  /**
   * How many of a root field's `requested` list items fit in what is left of the request's ceiling, in
   * the order the fields run; takes them. The items beyond are answered with an error each.
   */
  admit(requested: number): number {
    const admitted = Math.min(requested, this.itemsLeft);
    this.itemsLeft -= admitted;
    return admitted;
  }

  /**
   * How many of `refused` items beyond the ceiling get an error of their own: at most as many in all as
   * the ceiling, and at least one per field, so that a hostile list costs at most that many errors.
   */
  takeErrors(refused: number): number {
    const errors = Math.max(1, Math.min(refused, this.errorsLeft));
    this.errorsLeft = Math.max(0, this.errorsLeft - errors);
    return errors;
  }
}

/** Each request's budget, by its context: kept here, beside the only code that spends it. */
const budgets = new WeakMap<object, ListItemBudget>();

/** Gives the request whose context is `context` its budget of `maxItems` list items. */
export function budgetListItems(context: object, maxItems: number): void {
  budgets.set(context, new ListItemBudget(maxItems));
}

/** Root fields already wrapped, so that a schema served twice (tests) is wrapped once. */
const wrapped = new WeakSet<object>();

/**
 * Wraps every root field that takes id lists (and `_entities`) so that each call takes its items from the
 * request's budget (`ListItemBudget.admit`): the field's resolver gets the items admitted, and the items
 * cut off answer an error each, in their place at the end of the list. A request given no budget (a schema
 * run without the plugin) is not cut.
 */
export function guardListItems(schema: GraphQLSchema, idArguments: readonly IdArgument[]): void {
  const query = schema.getQueryType();
  if (query == null) return;
  const byField = new Map<string, Array<{ argument: string; lookup?: IdArgument['lookup'] }>>();
  for (const argument of idArguments) byField.set(argument.field, [...(byField.get(argument.field) ?? []), argument]);
  const fields = query.getFields();
  const representations: Array<{ argument: string; lookup?: IdArgument['lookup'] }> = [{ argument: 'representations' }];
  for (const [name, lists] of [...byField, ['_entities', representations] as const]) {
    const field = fields[name];
    if (field === undefined || wrapped.has(field)) continue;
    wrapped.add(field);
    const resolve = (field.resolve ?? defaultResolve(name)) as GraphQLFieldResolver<unknown, object, Record<string, unknown>>;
    field.resolve = (source, args, context, info) => {
      let total = 0;
      for (const { argument } of lists) {
        const value = args[argument];
        if (Array.isArray(value)) total += value.length;
      }
      const budget = budgets.get(context);
      const admitted = budget === undefined ? total : budget.admit(total);
      if (budget === undefined || admitted === total) return resolve(source, args, context, info);
      const cutArgs: Record<string, unknown> = { ...args };
      const refused: Array<Error | null> = [];
      const path = pathOf(info.path);
      const max = budget.max;
      const errors = budget.takeErrors(total - admitted);
      let left = admitted;
      withoutStacks(() => {
        for (const list of lists) {
          const value = args[list.argument];
          if (!Array.isArray(value)) continue;
          const kept = Math.min(value.length, left);
          left -= kept;
          cutArgs[list.argument] = value.slice(0, kept);
          for (let i = kept; i < value.length; i++) {
            const index = admitted + refused.length;
            const after = refused.length === errors - 1 ? total - admitted - errors : 0;
            refused.push(refused.length < errors ? beyondLimit(list, value[i], max, info, [...path, index], after) : null);
          }
        }
      });
      // An error as a list item is completed as that item's error (graphql-js): null there, the rest kept.
      const pad = (answered: unknown) => [...(Array.isArray(answered) ? answered : []), ...refused];
      const answered = resolve(source, cutArgs, context, info);
      return isPromiseLike(answered) ? Promise.resolve(answered).then(pad) : pad(answered);
    };
  }
}

/**
 * The error of one item beyond the ceiling, made where it is answered (its path and location already
 * set, so graphql-js uses it as it is) and without a stack: a hostile list makes up to
 * MAX_LIST_ITEMS_PER_OPERATION of them, and capturing stacks would be most of their cost.
 */
function beyondLimit(
  list: { lookup?: IdArgument['lookup'] },
  item: unknown,
  max: number,
  info: GraphQLResolveInfo,
  path: ReadonlyArray<string | number>,
  after: number,
): GraphQLError {
  let why = `at most ${max} ids and representations in all per operation (${LIST_ITEMS_LIMIT})`;
  if (after > 0) why += `; nor were the ${after} items after it in this list, which answer null without an error of their own`;
  const extensions: Record<string, unknown> = { code: 'BAD_USER_INPUT' };
  let message = `Representation not resolved: ${why}`;
  if (list.lookup !== undefined) {
    const id = shownKey(item);
    const { provider } = list.lookup;
    extensions.provider = provider.name;
    extensions.id = id;
    message = `${provider.label}: ${JSON.stringify(id)} was not looked up: ${why}`;
  }
  extensions.limit = LIST_ITEMS_LIMIT;
  extensions.max = max;
  if (after > 0) extensions.alsoNotResolved = after;
  return new GraphQLError(message, { nodes: info.fieldNodes, path, extensions });
}

function withoutStacks(run: () => void): void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    run();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function pathOf(path: GraphQLResolveInfo['path'] | undefined): Array<string | number> {
  const keys: Array<string | number> = [];
  for (let at = path; at !== undefined; at = at.prev) keys.unshift(at.key);
  return keys;
}

function defaultResolve(name: string): GraphQLFieldResolver<unknown, unknown> {
  return (source) => (source as Record<string, unknown> | null | undefined)?.[name];
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
