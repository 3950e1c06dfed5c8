import type { Logger } from 'pino';
import type { z } from 'zod';
import { ProviderError } from '../core/errors.js';
import type { ProviderId } from '../core/types.js';

/**
 * An upstream body, checked against the provider's schema of it (its `wire.ts`) at the boundary:
 * past this point the code can trust the shape it reads. A body that does not match is the
 * upstream's fault as far as a caller can tell, so it answers UPSTREAM_UNAVAILABLE; the log line says
 * which provider, which method and what was wrong: the paths and zod's messages, which name
 * expected types and never carry the value, so no token or personal data from the body is logged.
 */
export function parseUpstreamBody<S extends z.ZodType>(
  schema: S,
  body: unknown,
  call: { provider: ProviderId; method: string; logger: Logger },
): z.output<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const problems = result.error.issues
    .slice(0, MAX_LOGGED_ISSUES)
    .map((issue) => `${issue.path.map(String).join('.') || '(body)'}: ${issue.message}`);
  call.logger.warn(
    { method: call.method, problems, more: Math.max(0, result.error.issues.length - MAX_LOGGED_ISSUES) },
    'upstream body does not match its schema',
  );
  throw new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider: call.provider });
}

/** A broken body can be wrong in thousands of places; the first few say enough. */
const MAX_LOGGED_ISSUES = 5;
