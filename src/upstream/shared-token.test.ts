import { describe, expect, it } from 'vitest';
import type { ProviderId } from '../providers/provider.js';
import { ProviderError } from './errors.js';
import { SharedToken, sendWithToken, type TokenIssuer } from './shared-token.js';

/** A made-up provider: the upstream layer knows none by name. */
const ACME: ProviderId = { name: 'acme', label: 'Acme' };

/** An issuer that counts its calls, records what it replaced, and can be made to fail. */
function issuer(options: { renewInMs?: number; failWith?: () => Error } = {}) {
  const previous: Array<string | undefined> = [];
  let n = 0;
  const issue: TokenIssuer = async (replaced) => {
    previous.push(replaced);
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (options.failWith) throw options.failWith();
    return { token: `t${++n}`, renewInMs: options.renewInMs };
  };
  return { issue, previous, calls: () => previous.length };
}

describe('SharedToken', () => {
  it('issues one token for callers asking at the same moment', async () => {
    const i = issuer();
    const token = new SharedToken(ACME, i.issue);
    expect(await Promise.all([token.get(), token.get(), token.get()])).toEqual(['t1', 't1', 't1']);
    expect(await token.get()).toBe('t1');
    expect(i.calls()).toBe(1);
    expect(i.previous).toEqual([undefined]);
  });

  it('starts from an initial token without issuing', async () => {
    const i = issuer();
    const token = new SharedToken(ACME, i.issue, 'given');
    expect(await token.get()).toBe('given');
    expect(i.calls()).toBe(0);
  });

  it('renews a refused token once for every caller, and a caller that lost the race gets the new one', async () => {
    const i = issuer();
    const token = new SharedToken(ACME, i.issue, 'old');
    expect(await Promise.all([token.renew('old'), token.renew('old')])).toEqual(['t1', 't1']);
    expect(await token.renew('old')).toBe('t1'); // renewed meanwhile: nothing issued
    expect(i.previous).toEqual(['old']);
  });

  it('renews ahead of expiry, passing the token it replaces', async () => {
    let now = 0;
    const i = issuer({ renewInMs: 1_000 });
    const token = new SharedToken(ACME, i.issue, undefined, () => now);
    expect(await token.get()).toBe('t1');
    now = 999;
    expect(await token.get()).toBe('t1');
    now = 1_000;
    expect(await token.get()).toBe('t2');
    expect(i.previous).toEqual([undefined, 't1']);
  });

  it('a failed issue reaches every waiting caller, and the next call tries again', async () => {
    let fail = true;
    const base = issuer();
    const token = new SharedToken(ACME, async (previous) => {
      if (fail) throw new ProviderError({ code: 'UNAUTHENTICATED', provider: ACME });
      return base.issue(previous);
    });
    const results = await Promise.allSettled([token.get(), token.get()]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await token.get()).toBe('t1');
  });
});

describe('sendWithToken', () => {
  const refused = (response: { status: number }) => response.status === 401;

  it('sends with the current token, and after a refusal renews once and sends again', async () => {
    const token = new SharedToken(ACME, issuer().issue, 'stale');
    const sent: string[] = [];
    const response = await sendWithToken(
      token,
      async (t) => {
        sent.push(t);
        return { status: t === 'stale' ? 401 : 200 };
      },
      refused,
    );
    expect(response.status).toBe(200);
    expect(sent).toEqual(['stale', 't1']);
  });

  it('a second refusal is UNAUTHENTICATED, without a third request', async () => {
    const token = new SharedToken(ACME, issuer().issue, 'stale');
    let sends = 0;
    const error = await sendWithToken(
      token,
      async () => {
        sends++;
        return { status: 401 };
      },
      refused,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).extensions).toMatchObject({ code: 'UNAUTHENTICATED', provider: 'acme' });
    expect(sends).toBe(2);
  });

  it('a token that cannot be replaced fails after one request', async () => {
    const token = new SharedToken(ACME, async (previous) => {
      if (previous !== undefined) throw new ProviderError({ code: 'UNAUTHENTICATED', provider: ACME });
      return { token: 'static' };
    });
    let sends = 0;
    const error = await sendWithToken(
      token,
      async () => {
        sends++;
        return { status: 401 };
      },
      refused,
    ).catch((e: unknown) => e);
    expect((error as ProviderError).extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(sends).toBe(1);
  });
});
