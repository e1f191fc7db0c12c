import { describe, expect, it } from 'vitest';
import { isCeleriacError, Reject, Retry, TimeLimitExceeded, pythonModuleFor } from '../../errors.js';
import { errorFromData, errorToData, Outbox } from './ipc.js';

/** Through structured clone, as the message would travel. */
function roundTrip(error: unknown): Error {
  return errorFromData(structuredClone(errorToData(error)));
}

describe('errors across the pool boundary', () => {
  it('rebuild Celeriac errors as their class, with their fields', () => {
    const reject = roundTrip(new Reject('not for us', true));
    expect(isCeleriacError(reject, 'Reject')).toBe(true);
    expect(reject).toBeInstanceOf(Reject);
    expect(reject).toMatchObject({ reason: 'not for us', requeue: true, message: 'not for us' });
    const limit = new TimeLimitExceeded('TimeLimitExceeded(1)');
    (limit as { pyArgs?: unknown[] }).pyArgs = [1];
    const rebuilt = roundTrip(limit);
    expect(pythonModuleFor(rebuilt)).toBe('billiard.exceptions');
    expect((rebuilt as { pyArgs?: unknown[] }).pyArgs).toEqual([1]);
  });

  it('keep a nested cause (Retry.exc) and the stack', () => {
    const retry = roundTrip(new Retry('Retry in 5s', new TypeError('flaky'), 5));
    expect(isCeleriacError(retry, 'Retry')).toBe(true);
    const exc = (retry as Retry).exc as Error;
    expect(exc).toBeInstanceOf(Error);
    expect(exc.name).toBe('TypeError');
    expect(exc.message).toBe('flaky');
    expect(retry.stack).toContain('Retry in 5s');
  });

  it('keep plain errors plain, with their name, and thrown values visible', () => {
    class ValueError extends Error {
      override name = 'ValueError';
    }
    const value = roundTrip(new ValueError('bad'));
    expect(isCeleriacError(value)).toBe(false);
    expect(value.name).toBe('ValueError');
    expect(pythonModuleFor(value)).toBe('builtins');
    expect(roundTrip('a string').message).toBe('a string');
  });
});

describe('Outbox', () => {
  it('sends what was queued in one turn as one batch, and replaces what cannot be sent', async () => {
    const batches: unknown[][] = [];
    const outbox = new Outbox<{ v: unknown }>(
      (batch) => {
        structuredClone(batch);
        batches.push(batch);
      },
      () => ({ v: 'replaced' }),
    );
    outbox.push({ v: 1 });
    outbox.push({ v: 2 });
    await new Promise((resolve) => setImmediate(resolve));
    outbox.push({ v: () => 3 });
    outbox.push({ v: 4 });
    outbox.flush();
    expect(batches).toEqual([[{ v: 1 }, { v: 2 }], [{ v: 'replaced' }], [{ v: 4 }]]);
  });
});
