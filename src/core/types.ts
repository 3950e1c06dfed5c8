/**
 * The basic types every layer speaks in: how a provider is named, what a lookup's keys and fields look
 * like, what configuration reads, a caller's credential. This module imports nothing of the project.
 */

/** How a provider is named: `name` in metrics, logs and `extensions.provider`; `label` in messages. */
export interface ProviderId<Name extends string = string> {
  readonly name: Name;
  readonly label: string;
}

/**
 * The upstream fields one lookup needs, as sorted strings a provider chooses (`user.fields=created_at`,
 * `AVATAR_HR`, `full`). A record fetched with set A answers any operation whose set is a subset of A.
 */
export type FieldSet = readonly string[];

/**
 * Every field an operation document can select, as schema coordinates (`XUser.pinnedTweet`), a field
 * selected on an interface counted for each type that implements it (`src/plan/selected-fields.ts`).
 */
export type SelectedFields = ReadonlySet<string>;

/** What a key of a lookup looks like. Keys are checked here, after GraphQL coerced them, before any call. */
export interface KeySpec {
  isValid(key: string): boolean;
  /** Names a valid key in an error message, e.g. "an X user id (a decimal number from 1 to 2^63-1, without leading zeros)". */
  expected: string;
  /** Keys that name the same record (usernames differing in case) share one entry. */
  normalize?(key: string): string;
}

/** Environment variables, as `process.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>;

/** What configuration may read besides the environment (injectable for tests). */
export interface ConfigIO {
  readFile(path: string): string;
  exists(path: string): boolean;
}

/** The caller's own credential for a provider, when it sent one: its scope is a one-way hash of it. */
export interface CallerCredential {
  readonly token: string;
  /** A one-way hash of the token: partitions loaders, calls, cache entries and budgets by credential. */
  readonly scope: string;
}

/** One header of a caller credential: the variable that names it, its default name, what a value must look like. */
export interface CallerHeader {
  /** The environment variable that renames the header; `none` there turns the provider's caller credentials off. */
  readonly variable: string;
  /** The header's name when the variable is not set (lower case). */
  readonly defaultName: string;
  /** What a value must be, checked by the core before a provider reads it (`src/credentials/syntax.ts`). */
  readonly syntax: HeaderSyntax;
}

/** What a header's value must be: at most `maxLength` characters matching `pattern`; `expected` says so in a message. */
export interface HeaderSyntax {
  readonly pattern: RegExp;
  readonly maxLength: number;
  readonly expected: string;
}
