import { z } from 'zod';

/**
 * zod building blocks for environment variables, shared by the core's settings and every provider's
 * own. An empty value means "unset" for settings, as `VAR=${VAR}` in a compose file leaves it, but not
 * for credentials: a blank one is refused (`credentialText`, `secret`). Messages
 * say what is wrong, never what was given: some of these variables are secrets.
 */

/** `1`/`true`/`yes` or `0`/`false`/`no`; unset is `fallback`. */
export const flag = (fallback = false) =>
  z
    .enum(['1', '0', 'true', 'false', 'yes', 'no', ''])
    .optional()
    .transform((v) => (v === undefined || v === '' ? fallback : v === '1' || v === 'true' || v === 'yes'));

/** Like `flag`, but unset is `undefined`: for a default that depends on other settings. */
export const optionalFlag = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', ''])
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : v === '1' || v === 'true' || v === 'yes'));

/** A whole number in [min, max]; unset is `fallback`. */
export const int = (min: number, max: number, fallback: number) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === '' ? String(fallback) : v))
    .pipe(z.string().regex(/^\d+$/, `must be a whole number from ${min} to ${max}`))
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

/** An http(s) URL; unset is `fallback`. */
export const httpUrl = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === '' ? fallback : v))
    .pipe(z.string().refine(isHttpUrl, 'must be an http(s) URL'));

/** Trimmed text; unset or blank is `undefined`. */
export const text = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/**
 * A credential's text, trimmed; unset is `undefined`. Set but blank is refused: `X_BEARER_TOKEN=""` is a
 * deployment whose secret did not arrive, and starting without that provider would hide it.
 */
export const credentialText = z
  .string()
  .optional()
  .refine((v) => v === undefined || v.trim() !== '', 'is set but empty: give it a value, or unset it')
  .pipe(text);

/** A credential: printable ASCII without spaces, trimmed; unset is `undefined`, set but blank is refused. */
export const secret = credentialText.pipe(
  z
    .string()
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .optional(),
);

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

/** zod issues as problem lines: the variable (the issue's path) and what is wrong with it. */
export function problemsOf(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`);
}

/**
 * The variables a schema built from these blocks reads, each with its own schema: the object inside
 * any transforms and refinements. For the configuration reference and the unknown-variable check.
 */
export function variablesOf(schema: z.ZodType): ReadonlyArray<readonly [string, z.ZodType]> {
  let inner: z.core.$ZodType = schema;
  while (inner._zod.def.type === 'pipe') inner = (inner._zod.def as z.core.$ZodPipeDef).in;
  if (!(inner instanceof z.ZodObject)) throw new Error('an environment schema must be a z.object, possibly piped');
  return Object.entries(inner.shape as Record<string, z.ZodType>);
}
