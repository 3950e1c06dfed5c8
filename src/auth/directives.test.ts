import { readFileSync } from 'node:fs';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { isNonNullType, isObjectType, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { providers } from '../providers/registry.js';
import { buildSchema } from '../schema.js';
import { ANONYMOUS, type Caller } from './caller.js';
import { type AccessRule, accessRules, refusalOf } from './directives.js';

const schema = buildSchema(providers);
const rules = accessRules(schema);

/** The docs' list of protected fields: the rows of the table under "Protected fields" that name a `Type.field`. */
function documentedRules(): Map<string, string> {
  const doc = readFileSync(new URL('../../docs/access-control.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## Protected fields'));
  const listed = new Map<string, string>();
  for (const [, type, fields, rule] of section.matchAll(/^\| `(\w+)` \| ([^|]+) \| ([^|]+) \|$/gm)) {
    for (const field of fields!.matchAll(/`(\w+)`/g)) listed.set(`${type}.${field[1]}`, rule!.trim());
  }
  return listed;
}

const describeRule = (rule: AccessRule) =>
  rule.scopes.length === 0
    ? '`@authenticated`'
    : `\`@requiresScopes\` ${rule.scopes.map((s) => s.map((all) => all.join(' ')).join(', ')).join('; ')}`;

describe("the schema's access rules", () => {
  it('are the ones docs/access-control.md lists, field by field', () => {
    const fromSchema = new Map([...rules.values()].map((rule) => [rule.coordinate, describeRule(rule)]));
    expect(Object.fromEntries(documentedRules())).toEqual(Object.fromEntries(fromSchema));
    expect(new Set([...rules.values()].flatMap((rule) => rule.scopes.flat(2)))).toEqual(new Set(['users:personal']));
  });

  it('protect only nullable fields, so a refusal nulls the field and keeps the rest of the result', () => {
    for (const rule of rules.values()) {
      const [type, field] = rule.coordinate.split('.') as [string, string];
      const owner = schema.getType(type);
      expect(isObjectType(owner) && !isNonNullType(owner.getFields()[field]!.type), rule.coordinate).toBe(true);
    }
  });
});

describe('refusalOf', () => {
  const caller = (...scopes: string[]): Caller => ({ authenticated: true, scopes: new Set(scopes) });
  const rule = (scopes: string[][][]): AccessRule => ({ coordinate: 'T.f', scopes });

  it('@authenticated: any authenticated caller', () => {
    expect(refusalOf(rule([]), ANONYMOUS)).toBe('UNAUTHENTICATED');
    expect(refusalOf(rule([]), caller())).toBeUndefined();
  });

  it('@requiresScopes: one alternative whose scopes are all held; several directives must all hold', () => {
    const either = rule([[['a', 'b'], ['c']]]);
    expect(refusalOf(either, ANONYMOUS)).toBe('UNAUTHENTICATED');
    expect(refusalOf(either, caller('a'))).toBe('FORBIDDEN');
    expect(refusalOf(either, caller('a', 'b'))).toBeUndefined();
    expect(refusalOf(either, caller('c'))).toBeUndefined();
    const both = rule([[['a']], [['c']]]);
    expect(refusalOf(both, caller('a'))).toBe('FORBIDDEN');
    expect(refusalOf(both, caller('a', 'c'))).toBeUndefined();
  });
});

describe('accessRules reads the directives as federation names them', () => {
  const rulesOf = (sdl: string) =>
    Object.fromEntries([...accessRules(buildSubgraphSchema({ typeDefs: parse(sdl) })).values()].map((r) => [r.coordinate, r.scopes]));

  it('imported under another name, or not imported at all (federation__…)', () => {
    expect(
      rulesOf(`
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", { name: "@requiresScopes", as: "@scopes" }])
        type Query { u: U }
        type U @key(fields: "id") { id: ID! mail: String @scopes(scopes: [["x"]]) seen: String @federation__authenticated }
      `),
    ).toEqual({ 'U.mail': [[['x']]], 'U.seen': [] });
  });

  it("on a type: every field that returns it, with the field's own rule too", () => {
    expect(
      rulesOf(`
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@authenticated", "@requiresScopes"])
        type Query { u: U }
        type U @key(fields: "id") { id: ID! phones: Phones mobile: Phones @requiresScopes(scopes: [["s"]]) open: String }
        type Phones @authenticated { work: String }
      `),
    ).toEqual({ 'U.phones': [], 'U.mobile': [[['s']]] });
  });
});
