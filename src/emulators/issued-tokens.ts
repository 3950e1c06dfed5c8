import type { EmulatorClock } from './clock.js';

export type TokenCheck = 'valid' | 'expired' | 'unknown';

/**
 * Access tokens an emulator has issued, each valid for `ttlSeconds` from its issue (on the emulator's
 * clock) unless revoked first. How tokens look, and what refreshing does, is the emulator's own.
 */
export class IssuedTokens {
  private readonly tokens = new Map<string, { expiresAtMs: number; revoked: boolean }>();

  constructor(
    private readonly ttlSeconds: number,
    private readonly clock: EmulatorClock,
  ) {}

  /** Starts `token`'s lifetime now; returns its expiry in epoch milliseconds. */
  issue(token: string): number {
    const expiresAtMs = this.clock.now() + this.ttlSeconds * 1000;
    this.tokens.set(token, { expiresAtMs, revoked: false });
    return expiresAtMs;
  }

  /** `expired` once revoked or from its expiry on; `unknown` if never issued. */
  check(token: string): TokenCheck {
    const issued = this.tokens.get(token);
    if (issued === undefined) return 'unknown';
    return issued.revoked || this.clock.now() >= issued.expiresAtMs ? 'expired' : 'valid';
  }

  revoke(token: string): void {
    const issued = this.tokens.get(token);
    if (issued !== undefined) issued.revoked = true;
  }

  revokeAll(): void {
    for (const issued of this.tokens.values()) issued.revoked = true;
  }
}
