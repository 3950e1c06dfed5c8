import { buildSubgraphSchema } from '@apollo/subgraph';
import { type GraphQLFieldResolver, type GraphQLObjectType, parse } from 'graphql';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { selectedFields } from '../plan/selected-fields.js';
import { providers } from '../providers/registry.js';
import { buildSchema } from '../schema.js';
import { enforceAccess } from './access.js';
import { ANONYMOUS, type Caller } from './caller.js';
import type { AuthConfig } from './config.js';

const logger = pino({ level: 'silent' });
const ENFORCED: AuthConfig = { sharedSecret: undefined, jwt: undefined, enforced: true };
const OPEN: AuthConfig = { ...ENFORCED, enforced: false };
const PERSONAL: Caller = { authenticated: true, scopes: new Set(['users:personal']) };
const SIGNED_IN: Caller = { authenticated: true, scopes: new Set() };

const resolversOf = (schema: ReturnType<typeof buildSchema>) => {
  const byCoordinate = new Map<string, GraphQLFieldResolver<unknown, unknown> | undefined>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (!('getFields' in type) || type.name.startsWith('__')) continue;
    for (const field of Object.values((type as GraphQLObjectType).getFields()))
      byCoordinate.set(`${type.name}.${field.name}`, field.resolve);
  }
  return byCoordinate;
};

describe('enforceAccess', () => {
  it('wraps the resolvers of the protected fields and of no other', () => {
    const before = resolversOf(buildSchema(providers));
    const schema = buildSchema(providers);
    const original = resolversOf(schema);
    const access = enforceAccess(schema, ENFORCED, logger);
    const after = resolversOf(schema);
    expect(access.rules.size).toBeGreaterThan(0);
    for (const [coordinate, resolve] of after) {
      if (access.rules.has(coordinate)) expect(resolve, coordinate).not.toBe(original.get(coordinate));
      else expect(resolve, coordinate).toBe(original.get(coordinate));
    }
    expect(after.size).toBe(before.size);
  });

  it('wraps nothing when the rules are not enforced (AUTH_PERSONAL_DATA=open, the demo)', () => {
    const schema = buildSchema(providers);
    const original = resolversOf(schema);
    enforceAccess(schema, OPEN, logger);
    expect(resolversOf(schema)).toEqual(original);
    const people = peopleSchema();
    const selected = selectedFields(people, parse('{ people(ids: ["1"]) { mail sites } }'));
    expect(enforceAccess(people, OPEN, logger).narrow(selected, ANONYMOUS)).toBe(selected);
  });
});

/** A schema of its own, so that these tests name no provider. */
function peopleSchema() {
  return buildSubgraphSchema({
    typeDefs: parse(`
      extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@authenticated", "@requiresScopes"])
      type Query { people(ids: [ID!]!): [Person]! }
      type Person @key(fields: "id") {
        id: ID!
        name: String
        mail: String @requiresScopes(scopes: [["users:personal"]])
        sites: [ID!] @authenticated
      }
    `),
  });
}

describe('narrow', () => {
  const schema = peopleSchema();
  const access = enforceAccess(schema, ENFORCED, logger);
  const plan = (query: string) => selectedFields(schema, parse(query));

  it('takes out what the caller may not see, and only that', () => {
    const selected = plan('{ people(ids: ["1"]) { id mail sites } }');
    expect([...access.narrow(selected, ANONYMOUS)].sort()).toEqual(['Person.id', 'Query.people']);
    expect([...access.narrow(selected, SIGNED_IN)].sort()).toEqual(['Person.id', 'Person.sites', 'Query.people']);
    expect(access.narrow(selected, PERSONAL)).toBe(selected);
  });

  it('hands back the same object for the same selection and refusals (the loaders cache field sets by it)', () => {
    const selected = plan('{ people(ids: ["1"]) { id mail } }');
    const once = access.narrow(selected, ANONYMOUS);
    expect(access.narrow(selected, { authenticated: false, scopes: new Set() })).toBe(once);
    const unprotected = plan('{ people(ids: ["1"]) { id name } }');
    expect(access.narrow(unprotected, ANONYMOUS)).toBe(unprotected);
  });
});
