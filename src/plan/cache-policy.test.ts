import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { providers } from '../providers/registry.js';
import { buildSchema } from '../schema.js';
import { CachePolicies, cacheControlHeader } from './cache-policy.js';

const schema = buildSchema(providers);
const policyOf = (query: string, caps?: Map<string, number>) => new CachePolicies(schema, caps).of(parse(query));

describe('CachePolicies', () => {
  it.each([
    ['{ xUsers(ids: ["1"]) { id name } }', 900, 'PUBLIC'],
    ['{ xUsers(ids: ["1"]) { id pinnedTweet { text author { id } } } }', 900, 'PUBLIC'],
    ['{ telegramUsers(ids: ["1"]) { id firstName } }', 600, 'PUBLIC'],
    // A field's own hint: presence changes by the minute.
    ['{ telegramUsers(ids: ["1"]) { id status { presence } } }', 60, 'PUBLIC'],
    ['{ xUsers(ids: ["1"]) { id } bitrix24Users(ids: ["1"]) { id } }', 600, 'PUBLIC'],
    // Fields that need the caller's rights are the caller's alone.
    ['{ nexudusUsers(ids: ["1"]) { id email } }', 600, 'PRIVATE'],
    ['{ telegramUsers(ids: ["1"]) { ...F } } fragment F on TelegramUser { phone }', 600, 'PRIVATE'],
    // _entities returns a union without a hint: the strictest of the types it can be.
    ['query($r: [_Any!]!) { _entities(representations: $r) { ... on XUser { id } } }', 600, 'PUBLIC'],
    // Not user data: never reused.
    ['{ _service { sdl } }', 0, 'PUBLIC'],
    ['{ __schema { types { name } } }', 0, 'PUBLIC'],
    ['{ __typename }', 0, 'PUBLIC'],
    ['{ xUsers(ids: ["1"]) { id } _service { sdl } }', 0, 'PUBLIC'],
  ])('%s → max-age %i, %s', (query, maxAge, scope) => {
    expect(policyOf(query)).toEqual({ maxAge, scope });
  });

  it('caps a type’s hint at its provider’s configured record TTL', () => {
    expect(policyOf('{ xUsers(ids: ["1"]) { id } }', new Map([['XUser', 30]]))).toEqual({ maxAge: 30, scope: 'PUBLIC' });
  });

  it('computes once per document', () => {
    const policies = new CachePolicies(schema);
    const document = parse('{ xUsers(ids: ["1"]) { id } }');
    expect(policies.of(document)).toBe(policies.of(document));
  });

  it('writes the header', () => {
    expect(cacheControlHeader({ maxAge: 900, scope: 'PUBLIC' })).toBe('max-age=900, public');
    expect(cacheControlHeader({ maxAge: 60, scope: 'PRIVATE' })).toBe('max-age=60, private');
    expect(cacheControlHeader({ maxAge: 0, scope: 'PRIVATE' })).toBe('no-store');
  });
});
