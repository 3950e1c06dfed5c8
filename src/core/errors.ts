import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import type { ProviderId } from './types.js';

/** `extensions.code` of every error this subgraph produces (docs/schema.md, "The schema"). */
export type ErrorCode =
  | 'NOT_FOUND'
  | 'SUSPENDED'
  | 'RATE_LIMITED'
  | 'UPSTREAM_UNAVAILABLE'
  | 'UNAUTHENTICATED'
  | 'BAD_USER_INPUT'
  | 'PROVIDER_NOT_CONFIGURED'
  /** The operation's deadline (OPERATION_TIMEOUT_MS) passed before the upstream answered. */
  | 'DEADLINE_EXCEEDED';

export interface ProviderErrorInit {
  code: ErrorCode;
  provider: ProviderId;
  /** The id (or username) this error is about; absent for a whole-call failure before it is fanned out. */
  id?: string;
  /** Seconds until the upstream will take calls again, when it said so. */
  retryAfter?: number;
}

/**
 * A lookup that did not produce a record. It is a GraphQLError so that graphql-js puts it, with its
 * `extensions`, at the exact path of the item that failed: a batch function returns one per failed id,
 * DataLoader rejects only that id's promise, and the rest of the batch still resolves.
 *
 * Messages are written by this code (from the code and the id, or a fixed explanation of ours), never
 * copied from upstream text or request data, so no token, password or webhook URL can reach a client.
 */
export class ProviderError extends GraphQLError {
  declare readonly code: ErrorCode;
  declare readonly provider: ProviderId;
  declare readonly id: string | undefined;
  declare readonly retryAfter: number | undefined;
  /** The message was written for this failure, not derived from the code: keep it when fanned out. */
  declare private readonly explained: boolean;
  /** Extensions beyond the standard ones (a `limit` that was exceeded), kept when fanned out. */
  declare private readonly extra: Readonly<Record<string, unknown>> | undefined;

  constructor(init: ProviderErrorInit, message?: string, extra?: Readonly<Record<string, unknown>>) {
    const extensions: Record<string, unknown> = { code: init.code, provider: init.provider.name };
    if (init.id !== undefined) extensions.id = init.id;
    if (init.retryAfter !== undefined) extensions.retryAfter = init.retryAfter;
    if (extra !== undefined) Object.assign(extensions, extra);
    // These are values, one per failed id (a rate-limited batch of 1,000 ids makes 1,000), and no
    // one reads their stack: capturing it would cost more than the rest of the error.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(message ?? describe(init), { extensions });
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    this.code = init.code;
    this.provider = init.provider;
    this.id = init.id;
    this.retryAfter = init.retryAfter;
    this.explained = message !== undefined;
    this.extra = extra;
  }

  /** The same failure, about one id: how a whole-call failure is reported at each id's path. */
  forId(id: string): ProviderError {
    const init = { code: this.code, provider: this.provider, id, retryAfter: this.retryAfter };
    return new ProviderError(init, this.explained ? this.message : undefined, this.extra);
  }
}

/**
 * The upstream failed for a key after answering part of its record: `record` holds that part, fetched
 * with `fields` (a Nexudus list record, when the full record it was asked for failed). The shared layer
 * answers the fields `fields` cover and this failure at every other one; anything that knows no better
 * takes it for the failure it is.
 */
export class IncompleteRecord<R = unknown> extends ProviderError {
  constructor(
    failure: ProviderError,
    readonly record: R,
    readonly fields: readonly string[],
  ) {
    super({ code: failure.code, provider: failure.provider, id: failure.id, retryAfter: failure.retryAfter }, failure.message);
  }
}

function describe({ code, provider, id, retryAfter }: ProviderErrorInit): string {
  const who = provider.label;
  const subject = id === undefined ? '' : ` for ${JSON.stringify(id)}`;
  switch (code) {
    case 'NOT_FOUND':
      return `${who} has no user${subject}`;
    case 'SUSPENDED':
      return `${who} user${subject} is suspended`;
    case 'RATE_LIMITED':
      return `${who} rate limit reached${subject}` + (retryAfter === undefined ? '' : `; retry in ${retryAfter}s`);
    case 'UPSTREAM_UNAVAILABLE':
      return `${who} is unavailable${subject}`;
    case 'UNAUTHENTICATED':
      return `${who} rejected this subgraph's credentials${subject}`;
    case 'BAD_USER_INPUT':
      return `${who} rejected the input${subject}`;
    case 'PROVIDER_NOT_CONFIGURED':
      return `${who} is not configured on this subgraph`;
    case 'DEADLINE_EXCEEDED':
      return `${who} did not answer${subject} within the operation's deadline`;
  }
}

/** A request-level refusal (bad arguments, too many ids): HTTP 400, nothing sent upstream. */
/**
 * What a whole batch call that threw means for each of its keys: a ProviderError is an upstream's
 * answer; anything else is a bug here, logged with its stack so that it is not mistaken for an outage,
 * and answered as one (the caller can do nothing else).
 */
export function batchFailure(error: unknown, provider: ProviderId, logger: Logger): ProviderError {
  if (error instanceof ProviderError) return error;
  logger.error({ provider: provider.name, err: error }, 'batch function failed: a bug, not an upstream answer');
  return new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider });
}

export function badUserInput(message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, {
    extensions: { code: 'BAD_USER_INPUT', ...extensions, http: { status: 400 } },
  });
}

/**
 * Why a request's work was dropped: the reason its signal is aborted with (the operation's deadline,
 * the server shutting down). Calls still waiting for it fail with `code` and this message.
 */
export class WorkAbandoned extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WorkAbandoned';
  }
}

/**
 * A call dropped because no one waited for it any more. It says nothing about the upstream: a circuit
 * breaker must not count it as a failure (a client that hangs up is not an outage).
 */
export class AbandonedCall extends ProviderError {}

/** The error a call answers when its request's signal was aborted: the reason's code, else UPSTREAM_UNAVAILABLE. */
export function abandoned(provider: ProviderId, signal: AbortSignal): ProviderError {
  const reason: unknown = signal.reason;
  if (reason instanceof WorkAbandoned) return new AbandonedCall({ code: reason.code, provider }, `${provider.label}: ${reason.message}`);
  return new AbandonedCall(
    { code: 'UPSTREAM_UNAVAILABLE', provider },
    `${provider.label}: the request was abandoned before the upstream answered`,
  );
}
