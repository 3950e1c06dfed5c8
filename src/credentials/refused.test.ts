import { describe, expect, it } from 'vitest';
import { ProviderError } from '../core/errors.js';
import { asCallerFailure, callerCredentialRefused } from './refused.js';

const P = { name: 'p', label: 'Provider' };

describe('a caller credential the upstream refused', () => {
  it('is UNAUTHENTICATED, says the credential is the caller’s, and keeps its message at every id', () => {
    const error = callerCredentialRefused(P);
    expect(error.extensions).toEqual({ code: 'UNAUTHENTICATED', provider: 'p' });
    expect(error.message).toBe(
      "Provider refused the caller's own credential (expired, revoked, or without access): renew it and send it again",
    );
    expect(error.forId('7').message).toBe(error.message);
    expect(error.forId('7').extensions).toEqual({ code: 'UNAUTHENTICATED', provider: 'p', id: '7' });
  });

  it('replaces only an UNAUTHENTICATED: a rate limit or an outage is the upstream’s, as it was', () => {
    const limited = new ProviderError({ code: 'RATE_LIMITED', provider: P, retryAfter: 9 });
    const bug = new Error('a bug');
    expect(asCallerFailure(P, limited)).toBe(limited);
    expect(asCallerFailure(P, bug)).toBe(bug);
    expect((asCallerFailure(P, new ProviderError({ code: 'UNAUTHENTICATED', provider: P })) as ProviderError).message).toContain(
      "caller's own credential",
    );
  });
});
