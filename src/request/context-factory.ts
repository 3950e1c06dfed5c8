import type { HeaderMap } from '@apollo/server';
import type { Logger } from 'pino';
import type { AccessControl } from '../auth/access.js';
import type { SharedLookups } from '../batching/shared-lookups.js';
import type { Runtime } from '../core/lookup.js';
import type { CallerHeaderNames } from '../credentials/headers.js';
import { type CredentialSource, callerCredentialReader } from '../credentials/read.js';
import type { OperationTelemetry } from '../telemetry/operation.js';
import { errorCode } from '../telemetry/tracing.js';
import { RequestContext } from './context.js';

/** What every request's context is made from: the same for the server's life. */
export interface RequestContextSources {
  runtime: Runtime;
  shared: SharedLookups | undefined;
  /** Who a request's credentials name (docs/access-control.md, "Access control"). */
  access: Pick<AccessControl, 'identify'>;
  /** The providers whose callers may send credentials of their own, and the headers' names by provider. */
  credentialSources: readonly CredentialSource[];
  callerHeaders: CallerHeaderNames;
  /** MAX_IDS_PER_OPERATION. */
  maxIdsPerProvider: number;
  logger: Logger;
}

/** One request as the HTTP edge hands it over. */
export interface IncomingRequest {
  headers: HeaderMap;
  /** Aborted once the request's work is no longer wanted (`src/http/in-flight.ts`). */
  signal: AbortSignal;
  telemetry: OperationTelemetry;
}

/**
 * Makes each request's context: its caller identified and its own credentials read from its headers
 * before anything of it runs. Bad credentials of either kind refuse the whole request (401 or 400), a
 * message that names the header and never its value.
 */
export function requestContexts(sources: RequestContextSources): (request: IncomingRequest) => Promise<RequestContext> {
  const readCredentials = callerCredentialReader(sources.callerHeaders, sources.runtime, sources.credentialSources);
  const limits = (signal: AbortSignal) => ({ signal, maxIdsPerProvider: sources.maxIdsPerProvider });
  return async ({ headers, signal, telemetry }) => {
    try {
      const caller = await sources.access.identify(headers);
      const credentials = readCredentials(headers);
      return new RequestContext({
        runtime: sources.runtime,
        logger: telemetry.logger,
        limits: limits(signal),
        ...(sources.shared === undefined ? {} : { shared: sources.shared }),
        caller,
        credentials,
        telemetry,
      });
    } catch (error) {
      // Apollo's plugins never see this answer: the request's log line counts its code here.
      telemetry.noteError(errorCode(error));
      throw error;
    }
  };
}
