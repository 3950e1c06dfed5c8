import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { Runtime } from '../core/lookup.js';
import { type CredentialSource, callerCredentialReader, credentialScope } from './read.js';
import { NAME_SYNTAX, TOKEN_SYNTAX } from './syntax.js';

/**
 * Reading a request's own credentials from its headers (docs/access-control.md, "Per-caller credentials"): what is
 * taken, what refuses the request, and the scope each token is kept under.
 */

const SOLO = { name: 'solo', label: 'Solo' };
const MULTI = { name: 'multi', label: 'Multi' };

/** The runtimes the providers below run in, and the accounts their client has in each. */
const runtime = new Runtime();
const offlineRuntime = new Runtime();
const clients = new Map<Runtime, { solo?: true; multi?: Set<string> }>([
  [runtime, { solo: true, multi: new Set(['acme', 'globex']) }],
  [offlineRuntime, { multi: new Set(['acme']) }],
]);

/** A provider with one token header and no partitions. */
const solo: CredentialSource = {
  id: SOLO,
  callerCredentials: {
    headers: { token: { variable: 'SOLO_CALLER_TOKEN_HEADER', defaultName: 'x-solo', syntax: TOKEN_SYNTAX } },
    readerIn: (where) =>
      clients.get(where)?.solo === undefined ? undefined : ({ token }) => new Map(token === undefined ? [] : [['', token]]),
  },
};

/** A provider whose token is for one of its accounts, named in a second header. */
const multi: CredentialSource = {
  id: MULTI,
  callerCredentials: {
    headers: {
      token: { variable: 'MULTI_CALLER_TOKEN_HEADER', defaultName: 'x-multi', syntax: TOKEN_SYNTAX },
      account: { variable: 'MULTI_CALLER_ACCOUNT_HEADER', defaultName: 'x-multi-account', syntax: NAME_SYNTAX },
    },
    readerIn: (where) => {
      const accounts = clients.get(where)?.multi;
      if (accounts === undefined) return undefined;
      return ({ token, account }, names) =>
        token !== undefined && account !== undefined && accounts.has(account)
          ? new Map([[account, token]])
          : { problem: `the ${names.account} header names no configured account` };
    },
  },
};

const names = new Map<string, Record<string, string>>([
  ['solo', { token: 'x-solo' }],
  ['multi', { token: 'x-multi', account: 'x-multi-account' }],
]);
const read = callerCredentialReader(names, runtime, [solo, multi]);
const headers = (values: Record<string, string>) => ({ get: (name: string) => values[name] });

/** What `read` throws for these headers. */
function refusal(values: Record<string, string>): GraphQLError {
  try {
    read(headers(values));
  } catch (error) {
    expect(error).toBeInstanceOf(GraphQLError);
    return error as GraphQLError;
  }
  throw new Error('expected the request to be refused');
}

describe('callerCredentialReader', () => {
  it('reads nothing from a request that sends none', () => {
    expect(read(headers({ authorization: 'Bearer jwt', 'x-other': 'x' })).size).toBe(0);
  });

  it('takes each provider’s token for its partition, under a one-way scope', () => {
    const credentials = read(headers({ 'x-solo': 'tok-A', 'x-multi': 'tok-B', 'x-multi-account': 'globex' }));
    expect(credentials).toEqual(
      new Map([
        ['solo', new Map([['', { token: 'tok-A', scope: credentialScope(SOLO, '', 'tok-A') }]])],
        ['multi', new Map([['globex', { token: 'tok-B', scope: credentialScope(MULTI, 'globex', 'tok-B') }]])],
      ]),
    );
  });

  it.each([
    ['empty', ''],
    ['with a space (or sent twice: Node joins copies with ", ")', 'tok-A, tok-B'],
    ['with a CR LF', 'tok\r\nx-injected: 1'],
    ['with a tab', 'tok\tA'],
    ['with a NUL', 'tok\0A'],
    ['outside ASCII (Node reads header bytes as latin1)', 'tÃ¶k'],
    ['with an emoji', 'tok🙂'],
    ['over 2048 characters', 'a'.repeat(2049)],
  ])('refuses the whole request, 401 UNAUTHENTICATED, for a token %s, naming the header and never the value', (_label, value) => {
    const error = refusal({ 'x-solo': value });
    expect(error.extensions).toEqual({ code: 'UNAUTHENTICATED', provider: 'solo', header: 'x-solo', http: { status: 401 } });
    expect(error.message).toBe('Unauthenticated: the x-solo header must be 1 to 2048 visible ASCII characters, without spaces');
  });

  it('takes a token of exactly 2048 visible characters', () => {
    const token = '!~'.repeat(1024);
    expect(
      read(headers({ 'x-solo': token }))
        .get('solo')
        ?.get('')?.token,
    ).toBe(token);
  });

  it('refuses what the provider cannot use with its own message (a partition not configured), never repeating a value', () => {
    for (const account of ['https://evil.example/rest/', 'initech', 'acme\u0085']) {
      const error = refusal({ 'x-multi': 'tok-B', 'x-multi-account': account });
      expect(error.extensions.code).toBe('UNAUTHENTICATED');
      expect(JSON.stringify({ message: error.message, extensions: error.extensions })).not.toContain('tok-B');
    }
    expect(refusal({ 'x-multi': 'tok-B', 'x-multi-account': 'initech' }).message).toBe(
      'Unauthenticated: the x-multi-account header names no configured account',
    );
  });

  it('ignores the headers of a provider that is not configured here, or whose caller credentials are off', () => {
    const offline = callerCredentialReader(names, offlineRuntime, [solo, multi]);
    expect(offline(headers({ 'x-solo': 'tok A with spaces' })).size).toBe(0);
    const off = callerCredentialReader(new Map([['multi', names.get('multi')!]]), runtime, [solo, multi]);
    expect(off(headers({ 'x-solo': 'tok-A' })).size).toBe(0);
  });
});

describe('credentialScope', () => {
  it('is 32 hex characters of SHA-256, the same for the same token, and apart per provider and partition', () => {
    const scope = credentialScope(SOLO, '', 'tok-A');
    expect(scope).toMatch(/^[0-9a-f]{32}$/);
    expect(credentialScope(SOLO, '', 'tok-A')).toBe(scope);
    expect(
      new Set([scope, credentialScope(SOLO, '', 'tok-B'), credentialScope(MULTI, '', 'tok-A'), credentialScope(MULTI, 'acme', 'tok-A')])
        .size,
    ).toBe(4);
    expect(scope).not.toContain('tok');
  });
});
