import { type GraphQLFieldResolver, type GraphQLSchema, isObjectType } from 'graphql';
import type { PartialAnswer } from '../batching/lookup-call.js';
import { covers } from '../cache/entry.js';
import { ProviderError } from '../core/errors.js';
import type { Lookup } from '../core/lookup.js';
import type { FieldSet, SelectedFields } from '../core/types.js';

/**
 * A record that answers only some fields — served stale from the cache after the upstream failed, or
 * the part of a record an upstream gave before it failed (`PartialAnswer`) — answers exactly the fields
 * it was fetched with. Every other field is `null` **with the upstream's error at its path** (code,
 * provider, id): a client can always tell "this user has no value" from "it could not be asked".
 *
 * `guardPartialRecords` wraps, once when the schema is built, the resolver of each field whose value
 * depends on an upstream field (`XUser.createdAt`, `NexudusUser.isAdmin`: fields `id` or a Nexudus
 * list field need none). A request registers its partial records (`PartialRecords`); the wrapper looks
 * at the registry only in a request that has one, so an ordinary request pays one property read per
 * such field.
 */

/** What the field guard reads of a request's context. */
export interface PartialRecords {
  /** The request's records that answer only in part, by record; `undefined` while it has none. */
  readonly partialRecords: WeakMap<object, PartialAnswer> | undefined;
}

/**
 * The upstream fields a lookup's record must have been fetched with to answer one GraphQL field
 * (`XUser.createdAt` → `user.fields=created_at`), computed once per lookup and field.
 */
export function recordFieldsFor(lookup: Lookup<unknown>, coordinate: string): FieldSet {
  let byCoordinate = needs.get(lookup);
  if (byCoordinate === undefined) {
    byCoordinate = new Map();
    needs.set(lookup, byCoordinate);
  }
  let fields = byCoordinate.get(coordinate);
  if (fields === undefined) {
    fields = lookup.recordFields(lookup.fields(new Set([coordinate])));
    byCoordinate.set(coordinate, fields);
  }
  return fields;
}

const needs = new WeakMap<Lookup<unknown>, Map<string, FieldSet>>();

/** Wraps the resolvers of the fields a partial record may lack, for every type a lookup's records resolve as. */
export function guardPartialRecords(schema: GraphQLSchema, lookups: ReadonlyArray<Lookup<unknown>>): void {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type)) continue;
    const own = lookups.filter((lookup) => lookup.type === type.name);
    if (own.length === 0) continue;
    for (const field of Object.values(type.getFields())) {
      const coordinate = `${type.name}.${field.name}`;
      if (!own.some((lookup) => recordFieldsFor(lookup, coordinate).length > 0)) continue;
      const name = field.name;
      // A field without a resolver reads the record's property of its name, as graphql's default does.
      const resolve: GraphQLFieldResolver<unknown, PartialRecords | undefined> =
        field.resolve ?? ((source) => (source as Record<string, unknown> | null | undefined)?.[name]);
      field.resolve = (source, args, context: PartialRecords | undefined, info) => {
        const partial = context?.partialRecords;
        if (partial !== undefined && typeof source === 'object' && source !== null) {
          const answer = partial.get(source);
          if (answer !== undefined && !covers(answer.fields, recordFieldsFor(answer.lookup, coordinate)))
            throw unfetched(answer, coordinate);
        }
        return resolve(source, args, context, info);
      };
    }
  }
}

/** The GraphQL fields of `answer`'s type that `selected` asks for and its record answers (sorted): what is stale about it. */
export function answeredFields(answer: PartialAnswer, selected: SelectedFields | undefined): string[] | undefined {
  if (selected === undefined) return undefined;
  const prefix = `${answer.lookup.type}.`;
  const fields: string[] = [];
  for (const coordinate of selected) {
    if (coordinate.startsWith(prefix) && covers(answer.fields, recordFieldsFor(answer.lookup, coordinate))) {
      fields.push(coordinate.slice(prefix.length));
    }
  }
  return fields.sort();
}

function unfetched(answer: PartialAnswer, coordinate: string): ProviderError {
  const { code, provider, retryAfter } = answer.error;
  return new ProviderError(
    { code, provider, id: answer.key, retryAfter },
    `${answer.error.message}: ${coordinate} could not be fetched, and the record at hand was fetched without it`,
  );
}
