import { ProviderError } from '../core/errors.js';
import type { ProviderId } from '../core/types.js';

/**
 * What a call made with a caller's own credential answers when the upstream refuses that credential:
 * UNAUTHENTICATED, saying the credential is the caller's (not this subgraph's), so the caller knows to
 * renew it. Nothing is renewed on its behalf: this subgraph holds no refresh token of the caller's.
 */
export function callerCredentialRefused(provider: ProviderId): ProviderError {
  return new ProviderError(
    { code: 'UNAUTHENTICATED', provider },
    `${provider.label} refused the caller's own credential (expired, revoked, or without access): renew it and send it again`,
  );
}

/** `error` of a call made with a caller's credential: an UNAUTHENTICATED becomes `callerCredentialRefused`. */
export function asCallerFailure(provider: ProviderId, error: unknown): unknown {
  return error instanceof ProviderError && error.code === 'UNAUTHENTICATED' ? callerCredentialRefused(provider) : error;
}
