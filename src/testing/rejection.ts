import { expect } from 'vitest';
import { ProviderError } from '../core/errors.js';

/** The ProviderError `promise` fails with; the test fails if it resolves, or fails with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<ProviderError> {
  const error: unknown = await promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}
