import { execute, parse } from 'graphql';
import { compileQuery, isCompiledQuery } from 'graphql-jit';
import { describe, expect, it } from 'vitest';
import type { PartialAnswer } from '../batching/lookup-call.js';
import { ProviderError } from '../core/errors.js';
import { providers } from '../providers/registry.js';
import { xUsers } from '../providers/x/batch.js';
import { buildSchema } from '../schema.js';
import { partialView } from './partial-records.js';

/**
 * A record served stale or incomplete answers exactly the fields it was fetched with (issue 17). Fields
 * with a resolver of their own are guarded by a wrapper; fields read straight off the record keep no
 * resolver (graphql-jit inlines them) and are answered by the view the request is served instead.
 */
const schema = buildSchema(providers);
const X = xUsers.provider;

/** X user 42 fetched with created_at only, then X failed: what the request is given for it. */
function staleUser(): { record: Record<string, unknown>; answer: PartialAnswer } {
  const record = { id: '42', name: 'Ada', username: 'ada', created_at: '2010-01-01T00:00:00.000Z' };
  const error = new ProviderError({ code: 'RATE_LIMITED', provider: X, id: '42', retryAfter: 30 });
  return {
    record,
    answer: { lookup: xUsers as PartialAnswer['lookup'], key: '42', record, fields: ['user.fields=created_at'], error, staleSeconds: 5 },
  };
}

describe('guardPartialRecords', () => {
  it('leaves fields read straight off the record without a resolver, and wraps those with one', () => {
    const fields = schema.getType('XUser') as import('graphql').GraphQLObjectType;
    const of = fields.getFields();
    for (const plain of ['url', 'description', 'location', 'protected', 'verified', 'withheld'])
      expect(of[plain]!.resolve, plain).toBeUndefined();
    for (const resolved of ['createdAt', 'avatarUrl', 'publicMetrics']) expect(of[resolved]!.resolve, resolved).toBeTypeOf('function');
  });
});

describe('partialView', () => {
  it('is the record itself when it has every field read straight off it', () => {
    const { record, answer } = staleUser();
    const plain = ['description', 'location', 'protected', 'url', 'verified', 'withheld'];
    const whole = { ...answer, fields: ['user.fields=created_at', ...plain.map((field) => `user.fields=${field}`)] };
    expect(partialView(whole)).toBe(record);
  });

  it('else a copy whose missing fields hold their error, the record itself unchanged', () => {
    const { record, answer } = staleUser();
    const before = structuredClone(record);
    const view = partialView(answer) as Record<string, unknown>;
    expect(view).not.toBe(record);
    expect(record).toEqual(before);
    expect(view.created_at).toBe(record.created_at);
    expect(view.url).toBeInstanceOf(ProviderError);
    expect((view.url as ProviderError).extensions).toMatchObject({ code: 'RATE_LIMITED', provider: 'x', id: '42' });
    // Fields the record does not need for any plain GraphQL field are not touched.
    expect(Object.keys(view).sort()).toEqual([
      'created_at',
      'description',
      'id',
      'location',
      'name',
      'protected',
      'url',
      'username',
      'verified',
      'withheld',
    ]);
  });

  it('keeps the prototype of a record that has one', () => {
    class Row {
      id = '42';
    }
    const { answer } = staleUser();
    expect(partialView({ ...answer, record: new Row() })).toBeInstanceOf(Row);
  });

  it('answers a missing plain field null with its error at its path, on graphql-js and on graphql-jit alike', async () => {
    const document = parse('query { xUsers(ids: ["42"]) { id createdAt url } }');
    const { answer } = staleUser();
    const view = partialView(answer);
    const root = { xUsers: [view] };
    // The Query field's resolver is the schema's own (it loads); here the served record is given as the root's value.
    const rootSchema = buildSchema(providers);
    (rootSchema.getQueryType()!.getFields().xUsers!.resolve as unknown) = (source: typeof root) => source.xUsers;
    const context = { partialRecords: new WeakMap([[view as object, answer]]) };
    const onJs = await execute({ schema: rootSchema, document, rootValue: root, contextValue: context });
    const compiled = compileQuery(rootSchema, document);
    if (!isCompiledQuery(compiled)) throw new Error('not compiled');
    const onJit = await compiled.query(root, context, {});
    for (const result of [onJs, onJit]) {
      expect(result.data).toEqual({ xUsers: [{ id: '42', createdAt: '2010-01-01T00:00:00.000Z', url: null }] });
      expect(result.errors?.map((e) => ({ path: e.path, extensions: e.extensions }))).toEqual([
        { path: ['xUsers', 0, 'url'], extensions: { code: 'RATE_LIMITED', provider: 'x', id: '42', retryAfter: 30 } },
      ]);
    }
  });
});
