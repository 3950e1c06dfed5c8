import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { RedisLink } from '../redis/link.js';
import { LuaScript } from '../redis/lua-script.js';
import { Sealer } from './sealed.js';

/**
 * Where the replicas of one deployment keep an upstream account's token (docs/sharing.md, "Sharing upstream calls"): the token, the refresh token that came with it, when to renew it, and a renewal lock.
 * `SharedToken` runs the protocol; this is the storage, and it throws whenever Redis does.
 */
export interface StoredToken {
  /** Renewals of this account's token the store has seen: a larger one is newer. */
  gen: number;
  token: string;
  /** The refresh token that came with `token`: where refresh tokens rotate, the only one that still works. */
  refreshToken?: string;
  /** When to renew `token` ahead of its expiry, epoch ms; absent: it is used until refused. */
  renewAt?: number;
}

export interface TokenStore {
  /** Whether to try it now (Redis is up); when false, renew in-process without trying. */
  readonly available: boolean;
  /** What the store holds; `undefined` when nothing, or nothing this deployment can open and trust. */
  read(): Promise<StoredToken | undefined>;
  write(state: StoredToken): Promise<void>;
  /** Takes the account's renewal lock for `ttlMs`: the function that gives it back, or `undefined` when another holds it. */
  lock(ttlMs: number): Promise<(() => Promise<void>) | undefined>;
}

/** A token as it may be sent: visible ASCII only (it goes into a header or a query), of a sane length. */
const tokenText = z
  .string()
  .min(1)
  .max(8192)
  .regex(/^[\x21-\x7e]+$/);
const Stored = z
  .object({
    gen: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    token: tokenText,
    refreshToken: tokenText.optional(),
    renewAt: z.number().min(0).max(8.64e15).optional(),
  })
  .strict();

/** Larger than any record this writes: a larger value is not opened (nor parsed) at all. */
const MAX_VALUE_CHARS = 64 * 1024;

/** Deletes the lock only while it is still the holder's: a lock that expired and was taken since is not someone else's to lose. */
const UNLOCK = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

export interface RedisTokenStoreOptions {
  link: RedisLink;
  /** Names the account among this deployment's keys (a portal's name, a one-way hash of a login): never a secret. */
  account: string;
  /**
   * The configured secret every replica of the deployment already has (an OAuth client secret, a
   * password): the sealing key is derived from it. A replica with another secret reads nothing.
   */
  secret: string;
  /** Names the purpose in the key derivation: the provider and account (`bitrix24 acme`). */
  purpose: string;
  /** How long a record lives unless written again (ms): past it, a refresh token is dead anyway. */
  ttlMs: number;
}

/** Records sealed (`Sealer`) under `<prefix>token:{<account>}`, the lock at `…:renewing`. */
export class RedisTokenStore implements TokenStore {
  private readonly key: string;
  private readonly lockKey: string;
  private readonly sealer: Sealer;

  constructor(private readonly options: RedisTokenStoreOptions) {
    if (!/^[^\s{}]{1,200}$/.test(options.account))
      throw new Error('RedisTokenStore: an account is 1-200 characters without spaces or braces');
    this.key = options.link.key('token', `{${options.account}}`);
    this.lockKey = `${this.key}:renewing`;
    this.sealer = new Sealer(options.secret, `users-subgraph token ${options.purpose}`);
  }

  get available(): boolean {
    return this.options.link.usable('tokens');
  }

  read(): Promise<StoredToken | undefined> {
    return this.command(async (client) => {
      const value = await client.get(this.key);
      if (value === null || value.length > MAX_VALUE_CHARS) return undefined;
      const opened = this.sealer.open(value, this.key);
      if (opened === undefined) return undefined; // another deployment's secret, or tampered: as if absent
      let parsed: unknown;
      try {
        parsed = JSON.parse(opened);
      } catch {
        return undefined;
      }
      const state = Stored.safeParse(parsed);
      return state.success ? state.data : undefined;
    });
  }

  async write(state: StoredToken): Promise<void> {
    const checked = Stored.parse(state); // what would not be read back is not written
    await this.command(async (client) => {
      await client.set(this.key, this.sealer.seal(JSON.stringify(checked), this.key), 'PX', this.options.ttlMs);
    });
  }

  lock(ttlMs: number): Promise<(() => Promise<void>) | undefined> {
    return this.command(async (client) => {
      const owner = randomBytes(16).toString('base64url');
      const taken = await client.set(this.lockKey, owner, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX');
      if (taken !== 'OK') return undefined;
      return () => this.command(async (c) => void (await UNLOCK.run(c, [this.lockKey], [owner])));
    });
  }

  /** Runs a command on Redis; when Redis cannot take it, throws: `SharedToken` then renews in this process. */
  private command<T>(run: (client: RedisLink['client']) => Promise<T>): Promise<T> {
    return this.options.link.orLocal('tokens', run, () => {
      throw new Error('token store: Redis unavailable');
    });
  }
}
