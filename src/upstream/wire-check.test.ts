import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ProviderError } from '../core/errors.js';
import type { ProviderId } from '../core/types.js';
import { captureLogs } from '../testing/log-capture.js';
import { parseUpstreamBody } from './wire-check.js';

const ACME: ProviderId = { name: 'acme', label: 'Acme' };
const Users = z.array(z.object({ id: z.string(), email: z.string(), admin: z.boolean().optional() }));

function capture() {
  const { logger, lines } = captureLogs();
  return { logger: logger.child({ provider: ACME.name }), lines };
}

describe('parseUpstreamBody', () => {
  it('returns the body, typed, when it matches', () => {
    const { logger, lines } = capture();
    const body = [{ id: '1', email: 'a@example.com' }];
    expect(parseUpstreamBody(Users, body, { provider: ACME, method: 'GET /users', logger })).toEqual(body);
    expect(lines).toEqual([]);
  });

  it('a body that does not match is UPSTREAM_UNAVAILABLE, logged with provider, method and what was wrong, never a value', () => {
    const { logger, lines } = capture();
    const secretish = 'tok-SECRET-9f8e7d@example.com';
    const body = [{ id: 5, email: secretish, admin: 'yes' }];
    let thrown: unknown;
    try {
      parseUpstreamBody(Users, body, { provider: ACME, method: 'GET /users', logger });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ProviderError);
    expect((thrown as ProviderError).extensions).toEqual({ code: 'UPSTREAM_UNAVAILABLE', provider: 'acme' });
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ level: 40, provider: 'acme', method: 'GET /users', msg: 'upstream body does not match its schema' });
    expect(line.problems).toEqual([
      '0.id: Invalid input: expected string, received number',
      '0.admin: Invalid input: expected boolean, received string',
    ]);
    expect(lines[0]).not.toContain('SECRET');
    expect(JSON.stringify(thrown)).not.toContain('SECRET');
  });

  it('an HTML error page or an empty body is not a body of the schema', () => {
    const { logger, lines } = capture();
    for (const body of [undefined, '<html>Service Unavailable</html>', null]) {
      expect(() => parseUpstreamBody(Users, body, { provider: ACME, method: 'GET /users', logger })).toThrow(ProviderError);
    }
    expect(lines).toHaveLength(3);
  });

  it('logs at most five problems of a body wrong everywhere, and how many more there were', () => {
    const { logger, lines } = capture();
    const body = Array.from({ length: 20 }, () => ({ id: 1, email: 2 }));
    expect(() => parseUpstreamBody(Users, body, { provider: ACME, method: 'GET /users', logger })).toThrow(ProviderError);
    const line = JSON.parse(lines[0]!);
    expect(line.problems).toHaveLength(5);
    expect(line.more).toBe(35);
  });
});
