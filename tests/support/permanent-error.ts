import { expect } from 'vitest';
import { PermanentError } from '../../src/core/errors.js';

/** Runs `fn`, expects it to throw a `PermanentError` with `code`, and returns that error for further checks. */
export function expectPermanent(fn: () => unknown, code: string): PermanentError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as PermanentError).code).toBe(code);
    return err as PermanentError;
  }
  throw new Error(`expected a PermanentError with code ${code}`);
}
