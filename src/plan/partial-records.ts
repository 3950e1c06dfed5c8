import { type GraphQLSchema, isObjectType } from 'graphql';
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

/**
 * Guards the fields a partial record may lack, for every type a lookup's records resolve as. A field with a
 * resolver of its own (`XUser.createdAt` reads `created_at`) has it wrapped: the wrapper throws the error
 * when the request's record lacks what the field needs. A field read straight off the record (`XUser.url`)
 * keeps no resolver, so that graphql-jit reads it inline (a resolver call costs a resolve info, a path and
 * three closures per record and field: 12 of the 15 fields of a 100-user operation once made 365 KiB); a
 * partial record is served instead as a view whose such fields hold their error (`partialView`), which
 * graphql-jit and graphql-js both answer as `null` with that error at the field's path.
 */
export function guardPartialRecords(schema: GraphQLSchema, lookups: ReadonlyArray<Lookup<unknown>>): void {
  for (const lookup of lookups) plainFields.set(lookup, []);
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type)) continue;
    const own = lookups.filter((lookup) => lookup.type === type.name);
    if (own.length === 0) continue;
    for (const field of Object.values(type.getFields())) {
      const coordinate = `${type.name}.${field.name}`;
      const needing = own.filter((lookup) => recordFieldsFor(lookup, coordinate).length > 0);
      if (needing.length === 0) continue;
      const resolve = field.resolve;
      if (resolve === undefined) {
        for (const lookup of needing) plainFields.get(lookup)!.push({ name: field.name, coordinate });
        continue;
      }
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

/** Per lookup, the fields of its type read straight off its records that need an upstream field. */
const plainFields = new WeakMap<Lookup<unknown>, Array<{ name: string; coordinate: string }>>();

/**
 * What a request serves for a partial record: the record itself when it has every field read straight off
 * it, else a copy of it (its prototype kept) in which each such field it lacks holds the error
 * (`guardPartialRecords`). The record is never changed: it may be another request's, or the cache's.
 */
export function partialView(answer: PartialAnswer): unknown {
  const { record } = answer;
  const fields = plainFields.get(answer.lookup);
  if (fields === undefined || typeof record !== 'object' || record === null) return record;
  let view: Record<string, unknown> | undefined;
  for (const { name, coordinate } of fields) {
    if (covers(answer.fields, recordFieldsFor(answer.lookup, coordinate))) continue;
    view ??= Object.assign(Object.create(Object.getPrototypeOf(record) as object | null) as object, record) as Record<string, unknown>;
    view[name] = unfetched(answer, coordinate);
  }
  return view ?? record;
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
