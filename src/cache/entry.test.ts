import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { covers, union } from './entry.js';

/** A field set as the code makes them: sorted names, each once. */
const fieldSet = fc
  .uniqueArray(fc.constantFrom('a', 'b', 'c', 'created_at', 'description', 'id', 'name', 'url'), { maxLength: 8 })
  .map((fields) => fields.sort());

describe('covers', () => {
  it('is true exactly when every needed field is one the record has', () => {
    fc.assert(
      fc.property(fieldSet, fieldSet, (have, need) => {
        expect(covers(have, need)).toBe(need.every((field) => have.includes(field)));
      }),
      { seed: 20261206, numRuns: 2_000 },
    );
  });

  it('a record covers its own fields, any part of them, and nothing needs more than the union gives', () => {
    fc.assert(
      fc.property(fieldSet, fieldSet, (one, other) => {
        expect(covers(one, one)).toBe(true);
        expect(covers(one, [])).toBe(true);
        const both = union(one, other);
        expect(covers(both, one) && covers(both, other)).toBe(true);
      }),
      { seed: 20261206, numRuns: 1_000 },
    );
  });
});
