import {
  type FieldNode,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLFieldResolver,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { type IdArgument, shownKey } from '../core/lookup.js';
import { TurnSlicer } from './yielding-list.js';

const LIST_ITEMS_LIMIT = 'MAX_LIST_ITEMS_PER_OPERATION';
const RESULT_VALUES_LIMIT = 'MAX_RESULT_VALUES_PER_OPERATION';

/**
 * The ceiling on raw list items one operation may hand this subgraph (docs/limits.md, "Limits"): items of id
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
 * What the items answer is bounded the same way, before they run (issue 20: 10,000 items of 15 fields made
 * a 4 MB answer and held the event loop ~100 ms): each item costs the values its selection asks for
 * (`valuesPerItem`: its fields, through fragments and nested objects, counted once per operation), and the
 * items whose values would pass MAX_RESULT_VALUES_PER_OPERATION in all are cut as above, that limit named.
 * MAX_RESPONSE_BYTES then bounds the bytes as they are written.
 *
 * Two parts: `guardListItems` wraps the schema's root fields that take lists (once, at start-up), and
 * `budgetListItems` gives each request its budget of `maxItems` (`src/plugins/list-items.ts`).
 */
export class ListItemBudget {
  private itemsLeft: number;
  private valuesLeft: number;
  /** The request's items answered a slice per turn of the event loop (`TurnSlicer`). */
  readonly slicer = new TurnSlicer();
  /** Errors this request may still answer for items beyond `max` (as many as the limit). */
  private errorsLeft: number;

  constructor(
    readonly max: number,
    readonly maxValues: number = Number.POSITIVE_INFINITY,
  ) {
    this.itemsLeft = max;
    this.valuesLeft = maxValues;
    this.errorsLeft = max;
  }

  /**
   * How many of a root field's `requested` list items, each answering `valuesPerItem` values, fit in what
   * is left of the request's ceilings, in the order the fields run; takes them, and says which ceiling cut
   * the rest (answered with an error each).
   */
  admit(requested: number, valuesPerItem = 1): { admitted: number; cutBy: 'items' | 'values' } {
    const cost = Math.max(1, valuesPerItem);
    const byItems = Math.min(requested, this.itemsLeft);
    const byValues = Math.floor(this.valuesLeft / cost);
    const admitted = Math.min(byItems, byValues);
    this.itemsLeft -= admitted;
    this.valuesLeft -= admitted * cost;
    return { admitted, cutBy: byValues < byItems ? 'values' : 'items' };
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

/** Gives the request whose context is `context` its budget of `maxItems` list items and `maxValues` values they answer. */
export function budgetListItems(context: object, maxItems: number, maxValues?: number): void {
  budgets.set(context, new ListItemBudget(maxItems, maxValues));
}

/** Values per item, by the root field's node: a document's nodes are the same objects each time it runs. */
const perItem = new WeakMap<FieldNode, number>();

/**
 * The values one item of a root field answers at most: each field of its selection counts one, an object
 * field one plus its own selection's, fragments expanded; where fragments apply to different types (an
 * `_entities` selection), the largest type's. Lists inside an item count one (none here is unbounded).
 */
export function valuesPerItem(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>): number {
  const node = info.fieldNodes[0];
  if (node === undefined) return 1;
  const known = perItem.get(node);
  if (known !== undefined) return known;
  let values = 0;
  for (const field of info.fieldNodes)
    if (field.selectionSet) values = Math.max(values, countValues(field.selectionSet, info.fragments, 0));
  values = Math.max(1, values);
  perItem.set(node, values);
  return values;
}

/**
 * The values an operation's id lists would answer, estimated before it runs: for each root field that takes
 * lists (`listArguments`, by field name; `_entities` always), the items its arguments hold as sent (a list
 * literal's length, a variable's, one for anything else), at most `maxItems` in all, times the values per
 * item (`valuesPerItem`), at most `maxValues` in all. The ceilings are enforced exactly as the fields run;
 * this is what an operation is admitted by (`ValuesInFlight`).
 */
export function estimateValues(
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
  variables: Record<string, unknown> | undefined,
  listArguments: ReadonlyMap<string, readonly string[]>,
  limits: { maxItems: number; maxValues: number },
): number {
  let items = 0;
  let values = 0;
  const itemsOf = (value: ValueNode | undefined): number => {
    if (value === undefined || value.kind === Kind.NULL) return 0;
    if (value.kind === Kind.LIST) return value.values.length;
    if (value.kind === Kind.VARIABLE) {
      const given = variables?.[value.name.value];
      return Array.isArray(given) ? given.length : given == null ? 0 : 1;
    }
    return 1;
  };
  const visit = (set: SelectionSetNode, depth: number) => {
    if (depth > 16) return;
    for (const selection of set.selections) {
      if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet, depth + 1);
      else if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments[selection.name.value];
        if (fragment !== undefined) visit(fragment.selectionSet, depth + 1);
      } else {
        const name = selection.name.value;
        const lists = name === '_entities' ? ['representations'] : listArguments.get(name);
        if (lists === undefined) continue;
        let here = 0;
        for (const argument of lists) here += itemsOf(selection.arguments?.find((a) => a.name.value === argument)?.value);
        here = Math.min(here, limits.maxItems - items);
        items += here;
        values += here * valuesPerItem({ fieldNodes: [selection], fragments });
      }
    }
  };
  visit(operation.selectionSet, 0);
  return Math.min(values, limits.maxValues);
}

function countValues(set: SelectionSetNode, fragments: Record<string, FragmentDefinitionNode>, depth: number): number {
  // Validation bounds depth (MAX_QUERY_DEPTH) and fragment cycles; this guards the count on its own too.
  if (depth > 64) return 0;
  let common = 0;
  const byType = new Map<string, number>();
  const add = (type: string | undefined, values: number) => {
    if (type === undefined) common += values;
    else byType.set(type, (byType.get(type) ?? 0) + values);
  };
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD)
      add(undefined, 1 + (selection.selectionSet ? countValues(selection.selectionSet, fragments, depth + 1) : 0));
    else if (selection.kind === Kind.INLINE_FRAGMENT)
      add(selection.typeCondition?.name.value, countValues(selection.selectionSet, fragments, depth + 1));
    else {
      const fragment = fragments[selection.name.value];
      if (fragment !== undefined) add(fragment.typeCondition.name.value, countValues(fragment.selectionSet, fragments, depth + 1));
    }
  }
  let widest = 0;
  for (const values of byType.values()) widest = Math.max(widest, values);
  return common + widest;
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
      if (budget === undefined) return resolve(source, args, context, info);
      const { admitted, cutBy } = budget.admit(total, valuesPerItem(info));
      if (admitted === total) return sliced(resolve(source, args, context, info), budget.slicer);
      const cutArgs: Record<string, unknown> = { ...args };
      const refused: Array<Error | null> = [];
      const path = pathOf(info.path);
      const limit = cutBy === 'values' ? { name: RESULT_VALUES_LIMIT, max: budget.maxValues } : { name: LIST_ITEMS_LIMIT, max: budget.max };
      // Past the values ceiling one error says it for the whole list: errors are values of the answer too.
      const errors = cutBy === 'values' ? 1 : budget.takeErrors(total - admitted);
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
            refused.push(refused.length < errors ? beyondLimit(list, value[i], limit, info, [...path, index], after) : null);
          }
        }
      });
      // An error as a list item is completed as that item's error (graphql-js): null there, the rest kept.
      const pad = (answered: unknown) => [...(Array.isArray(answered) ? answered : []), ...refused];
      const answered = resolve(source, cutArgs, context, info);
      return sliced(isPromiseLike(answered) ? Promise.resolve(answered).then(pad) : pad(answered), budget.slicer);
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
  limit: { name: string; max: number },
  info: GraphQLResolveInfo,
  path: ReadonlyArray<string | number>,
  after: number,
): GraphQLError {
  const { name, max } = limit;
  let why =
    name === LIST_ITEMS_LIMIT
      ? `at most ${max} ids and representations in all per operation (${name})`
      : `at most ${max} values answered by the items of all lists per operation, counted as items × fields selected (${name})`;
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
  extensions.limit = name;
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

/** A root field's answer, its items answered within the request's allowance per turn (`TurnSlicer`). */
function sliced(answered: unknown, slicer: TurnSlicer): unknown {
  if (isPromiseLike(answered)) return Promise.resolve(answered).then((list) => (Array.isArray(list) ? slicer.slice(list) : list));
  return Array.isArray(answered) ? slicer.slice(answered) : answered;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
