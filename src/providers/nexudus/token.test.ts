import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../core/errors.js';
import type { UpstreamClient, UpstreamRequest, UpstreamResponse } from '../../upstream/http.js';
import { NEXUDUS } from './id.js';
import { nexudusToken } from './token.js';

/**
 * Which grant a renewal falls back to: the token endpoint stands in as a function of the grant asked,
 * so each case says exactly what Nexudus answered and the test reads which grants were sent.
 */
const LOGIN = { kind: 'password', username: 'ops@example.com', password: 'pa55word' } as const;

function endpoint(answer: (grant: string) => UpstreamResponse | ProviderError) {
  const grants: string[] = [];
  const http = {
    async send(request: UpstreamRequest): Promise<UpstreamResponse> {
      const grant = new URLSearchParams(String(request.body)).get('grant_type')!;
      grants.push(grant);
      const reply = answer(grant);
      if (reply instanceof ProviderError) throw reply;
      return reply;
    },
  } as unknown as UpstreamClient;
  return { http, grants };
}

const issued = (n: number): UpstreamResponse => ({
  status: 200,
  headers: {},
  body: { access_token: `t${n}`, refresh_token: `r${n}`, expires_in: 3600 },
});

describe('nexudusToken renewal', () => {
  it('a refresh token Nexudus refuses falls back to the password', async () => {
    let n = 0;
    const { http, grants } = endpoint((grant) =>
      grant === 'refresh_token' ? new ProviderError({ code: 'UNAUTHENTICATED', provider: NEXUDUS }) : issued(++n),
    );
    const token = nexudusToken(LOGIN, http, pino({ level: 'silent' }));
    expect(await token.get()).toBe('t1');
    expect(await token.renew('t1')).toBe('t2');
    expect(grants).toEqual(['password', 'refresh_token', 'password']);
  });

  it('a token endpoint that is down fails the renewal: no password grant on top of it', async () => {
    let n = 0;
    let down = false;
    const { http, grants } = endpoint(() => (down ? new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider: NEXUDUS }) : issued(++n)));
    const token = nexudusToken(LOGIN, http, pino({ level: 'silent' }));
    expect(await token.get()).toBe('t1');
    down = true;
    await expect(token.renew('t1')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(grants).toEqual(['password', 'refresh_token']);
  });
});
