import { expect, it } from 'vitest';
import { untilIo } from './until-io.js';

it('resolves once the predicate holds, however many turns that takes, and fails only after its time', async () => {
  let turns = 0;
  await untilIo(() => ++turns > 20_000);
  expect(turns).toBe(20_001);
  await expect(untilIo(() => false, 20)).rejects.toThrow('never happened within 20 ms');
});
