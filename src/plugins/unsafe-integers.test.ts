import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unsafeIntegerAt } from './unsafe-integers.js';

const UNSAFE = 2 ** 53 + 2;

/** The same walk written plainly, a tuple and a path per element, in document order: what the frames must find. */
function reference(value: unknown): string | undefined {
  const stack: Array<[unknown, string]> = [];
  const top = value !== null && typeof value === 'object' ? Object.entries(value) : [];
  for (let i = top.length - 1; i >= 0; i--) stack.push([top[i]![1], top[i]![0]]);
  while (stack.length > 0) {
    const [item, path] = stack.pop()!;
    if (typeof item === 'number') {
      if (Number.isInteger(item) && !Number.isSafeInteger(item)) return path;
    } else if (Array.isArray(item)) {
      for (let i = item.length - 1; i >= 0; i--) stack.push([item[i], `${path}[${i}]`]);
    } else if (item !== null && typeof item === 'object') {
      const entries = Object.entries(item);
      for (let i = entries.length - 1; i >= 0; i--) stack.push([entries[i]![1], `${path}.${entries[i]![0]}`]);
    }
  }
  return undefined;
}

describe('unsafeIntegerAt', () => {
  it('names the first integer a double cannot hold, by its path', () => {
    expect(unsafeIntegerAt({ ids: ['1', '2'], first: 10 })).toBeUndefined();
    expect(unsafeIntegerAt({ ids: [1, UNSAFE, UNSAFE] })).toBe('ids[1]');
    expect(
      unsafeIntegerAt({
        r: [
          { __typename: 'XUser', id: '7' },
          { __typename: 'XUser', id: UNSAFE },
        ],
      }),
    ).toBe('r[1].id');
    expect(unsafeIntegerAt({ a: { b: [[0, [UNSAFE]]] } })).toBe('a.b[0][1][0]');
    expect(unsafeIntegerAt({ big: 2 ** 53 - 1, fraction: 1.5e300 })).toBe('fraction');
    expect(unsafeIntegerAt({ small: -(2 ** 53) - 2 })).toBe('small');
    expect(unsafeIntegerAt(null)).toBeUndefined();
    expect(unsafeIntegerAt(undefined)).toBeUndefined();
  });

  it('walks variables nested deeper than the call stack would allow', () => {
    let deep: unknown = [UNSAFE];
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    expect(unsafeIntegerAt({ v: deep })?.endsWith('.d[0]')).toBe(true);
  });

  it('finds what the plain walk finds, in document order, for any JSON value', () => {
    const number = fc.oneof(fc.integer(), fc.constantFrom(UNSAFE, -UNSAFE, 2 ** 60, 1.5, 2 ** 53 - 1));
    const json = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, number, fc.string(), fc.boolean(), fc.constant(null), tie('list'), tie('object')),
      list: fc.array(tie('value'), { maxLength: 5 }),
      object: fc.dictionary(fc.string({ maxLength: 3 }), tie('value'), { maxKeys: 4 }),
    }));
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 4 }), json.value, { maxKeys: 4 }), (variables) => {
        expect(unsafeIntegerAt(variables)).toBe(reference(variables));
      }),
      { seed: 20261206, numRuns: 2_000 },
    );
  });
});
