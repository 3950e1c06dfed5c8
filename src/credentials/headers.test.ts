import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config.js';
import { providers } from '../providers/registry.js';
import { type CallerHeaderSource, callerHeaderSettings } from './headers.js';
import { TOKEN_SYNTAX } from './syntax.js';

/**
 * The header names of callers' own credentials, as the variables set them (docs/access-control.md, "Per-caller credentials"): the registry's providers through loadConfig, and made-up providers for the clashes.
 */

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(providers, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

/** A provider that only declares caller headers: enough for the settings. */
function declaring(name: string, headers: Record<string, [variable: string, defaultName: string]>): CallerHeaderSource {
  return {
    id: { name, label: name },
    callerCredentials: {
      headers: Object.fromEntries(
        Object.entries(headers).map(([role, [variable, defaultName]]) => [role, { variable, defaultName, syntax: TOKEN_SYNTAX }]),
      ),
    },
  };
}

describe('caller credential headers', () => {
  it('default to the documented names, by provider and role', () => {
    expect(loadConfig(providers, {}).callerHeaders).toEqual(
      new Map([
        ['x', { token: 'x-caller-x-token' }],
        ['bitrix24', { token: 'x-caller-bitrix24-token', portal: 'x-caller-bitrix24-portal' }],
      ]),
    );
  });

  it('are renamed by their variables, in lower case; `none` turns a provider’s off', () => {
    const config = loadConfig(providers, { X_CALLER_TOKEN_HEADER: 'X-User-Token', BITRIX24_CALLER_TOKEN_HEADER: 'NONE' });
    expect(config.callerHeaders).toEqual(new Map([['x', { token: 'x-user-token' }]]));
  });

  it('refuse what is not a header name, naming the variable and never the value', () => {
    const found = problems({ X_CALLER_TOKEN_HEADER: 'x caller\r\ntoken', BITRIX24_CALLER_PORTAL_HEADER: 'portal:name' });
    expect(found).toEqual([
      'X_CALLER_TOKEN_HEADER: must be an HTTP header name, or none',
      'BITRIX24_CALLER_PORTAL_HEADER: must be an HTTP header name, or none',
    ]);
  });

  it('refuse a header that means something else, the gateway’s secret header, or one chosen twice', () => {
    expect(problems({ X_CALLER_TOKEN_HEADER: 'Authorization' })).toEqual([
      'X_CALLER_TOKEN_HEADER: must not be authorization: that header means something else',
    ]);
    expect(problems({ BITRIX24_CALLER_TOKEN_HEADER: 'x-subgraph-secret' })).toEqual([
      'BITRIX24_CALLER_TOKEN_HEADER: must not be the header of AUTH_SHARED_SECRET_HEADER',
    ]);
    expect(problems({ AUTH_SHARED_SECRET_HEADER: 'x-caller-x-token', AUTH_SHARED_SECRET: 'a-secret-of-16-chars+' })).toEqual([
      'X_CALLER_TOKEN_HEADER: must not be the header of AUTH_SHARED_SECRET_HEADER',
    ]);
    expect(problems({ BITRIX24_CALLER_TOKEN_HEADER: 'X-Caller-X-Token' })).toEqual([
      'BITRIX24_CALLER_TOKEN_HEADER: names the same header as X_CALLER_TOKEN_HEADER',
    ]);
  });

  it('leave out providers that declare none, and every provider of the registry declares distinct defaults', () => {
    const settings = callerHeaderSettings([declaring('a', { token: ['A_TOKEN_HEADER', 'x-a'] }), declaring('b', {})]);
    expect(settings.parse({})).toEqual(new Map([['a', { token: 'x-a' }]]));
    const defaults = providers.flatMap((p) => Object.values(p.callerCredentials?.headers ?? {}).map((h) => h.defaultName));
    expect(new Set(defaults).size).toBe(defaults.length);
  });
});
