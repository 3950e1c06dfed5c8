import { readdirSync, readFileSync } from 'node:fs';
import { type ASTNode, concatAST, type DefinitionNode, Kind, parse, print, type TypeNode } from 'graphql';
import { describe, expect, it } from 'vitest';

/**
 * The schema's rules for clients, checked on `schema/` itself (the source of truth), so a new field that
 * breaks one fails `npm test`:
 * - every type, field, argument and enum value says what it is;
 * - every field of an entity (a type with `@key`) and of `ExternalUser`, but the key, is nullable: a user a
 *   gateway asked for and the provider did not return must never null anything above it;
 * - a field name the users of several providers share has one type everywhere, so a client can select it
 *   across `ExternalUser` without aliases;
 * - every date (a field named `…At`, `…On`, `…Date`, `…Until`) is a `DateTime`.
 */
const ast = concatAST(
  readdirSync('schema')
    .filter((file) => file.endsWith('.graphql'))
    .sort()
    .map((file) => parse(readFileSync(`schema/${file}`, 'utf8'))),
);

type Named = DefinitionNode & { name: { value: string } };
const named = ast.definitions.filter((d): d is Named => 'name' in d && d.name !== undefined);

interface FieldLike {
  name: { value: string };
  description?: { value: string } | undefined;
  type: TypeNode;
  arguments?: ReadonlyArray<{ name: { value: string }; description?: { value: string } | undefined }>;
}
const fieldsOf = (d: Named): readonly FieldLike[] => ('fields' in d ? ((d.fields ?? []) as readonly FieldLike[]) : []);
const directiveNames = (d: ASTNode) => ('directives' in d ? (d.directives ?? []).map((x) => x.name.value) : []);
const keyFields = (d: Named): string[] =>
  ('directives' in d ? (d.directives ?? []) : [])
    .filter((x) => x.name.value === 'key')
    .flatMap((x) => {
      const fields = x.arguments?.find((a) => a.name.value === 'fields')?.value;
      return fields?.kind === Kind.STRING ? fields.value.split(/\s+/) : [];
    });

describe('schema/', () => {
  it('describes every type, field, argument and enum value', () => {
    const missing: string[] = [];
    for (const d of named) {
      const extension = d.kind.endsWith('Extension');
      if (!extension && d.kind !== Kind.DIRECTIVE_DEFINITION && d.name.value !== 'Query' && !('description' in d && d.description))
        missing.push(d.name.value);
      for (const field of fieldsOf(d)) {
        if (!field.description) missing.push(`${d.name.value}.${field.name.value}`);
        for (const arg of field.arguments ?? [])
          if (!arg.description) missing.push(`${d.name.value}.${field.name.value}(${arg.name.value})`);
      }
      if ('values' in d) for (const value of d.values ?? []) if (!value.description) missing.push(`${d.name.value}.${value.name.value}`);
    }
    expect(missing).toEqual([]);
  });

  it('makes every field of a user (and of any entity) nullable but its key', () => {
    const entities = named.filter((d) => d.name.value === 'ExternalUser' || directiveNames(d).includes('key'));
    expect(entities.map((d) => d.name.value).sort()).toEqual([
      'Bitrix24User',
      'ExternalUser',
      'NexudusUser',
      'TelegramUser',
      'XTweet',
      'XUser',
    ]);
    const nonNull = entities.flatMap((d) => {
      const key = d.name.value === 'ExternalUser' ? ['id'] : keyFields(d);
      return fieldsOf(d)
        .filter((f) => f.type.kind === Kind.NON_NULL_TYPE && !key.includes(f.name.value))
        .map((f) => `${d.name.value}.${f.name.value}`);
    });
    expect(nonNull).toEqual([]);
  });

  it('gives a field name shared by several providers’ users one type', () => {
    const users = named.filter((d) => d.kind === Kind.OBJECT_TYPE_DEFINITION && /User$/.test(d.name.value));
    const types = new Map<string, Map<string, string[]>>();
    for (const d of users) {
      for (const field of fieldsOf(d)) {
        const byType = types.get(field.name.value) ?? new Map<string, string[]>();
        const type = print(field.type);
        byType.set(type, [...(byType.get(type) ?? []), d.name.value]);
        types.set(field.name.value, byType);
      }
    }
    const conflicts = [...types].filter(([, byType]) => byType.size > 1).map(([name, byType]) => [name, Object.fromEntries(byType)]);
    expect(conflicts).toEqual([]);
  });

  it('types every date as DateTime', () => {
    const dates = /(At|On|Date|Until)$|^(idle|absent)$/;
    const notDateTime = named.flatMap((d) =>
      fieldsOf(d)
        .filter((f) => dates.test(f.name.value) && print(f.type).replace(/!$/, '') !== 'DateTime')
        .map((f) => `${d.name.value}.${f.name.value}: ${print(f.type)}`),
    );
    expect(notDateTime).toEqual([]);
  });
});
