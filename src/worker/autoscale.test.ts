import { describe, expect, it } from 'vitest';
import { silentLogger } from '../lifecycle/logger.js';
import { Autoscaler } from './autoscale.js';
import { WorkerLostTracker } from './worker-lost.js';

function scaler(max: number, min: number) {
  const state = { procs: min, qty: 0 };
  const autoscaler = new Autoscaler(
    max,
    min,
    {
      logger: silentLogger(),
      processes: () => state.procs,
      qty: () => state.qty,
      grow: (n) => (state.procs += n),
      shrink: (n) => (state.procs -= n),
    },
    30_000,
  );
  return { autoscaler, state };
}

describe('Autoscaler (celery/worker/autoscale.py)', () => {
  it('grows to the load, up to max', () => {
    const { autoscaler, state } = scaler(4, 1);
    state.qty = 3;
    expect(autoscaler.maybeScale(0)).toBe(true);
    expect(state.procs).toBe(3);
    state.qty = 10;
    autoscaler.maybeScale(1);
    expect(state.procs).toBe(4);
    expect(autoscaler.maybeScale(2)).toBe(false);
  });

  it('shrinks towards min only once the keepalive has passed since the last growth', () => {
    const { autoscaler, state } = scaler(4, 1);
    state.qty = 4;
    autoscaler.maybeScale(0);
    state.qty = 0;
    expect(autoscaler.maybeScale(10_000)).toBe(false);
    expect(state.procs).toBe(4);
    expect(autoscaler.maybeScale(30_001)).toBe(true);
    expect(state.procs).toBe(1);
  });

  it('applies new bounds at once', () => {
    const { autoscaler, state } = scaler(4, 1);
    expect(autoscaler.update(6, 3)).toEqual([6, 3]);
    expect(state.procs).toBe(3);
    autoscaler.update(2, null);
    expect(state.procs).toBe(2);
  });
});

describe('WorkerLostTracker', () => {
  const late = { acksLate: true, rejectOnWorkerLost: true };
  it('requeues up to the limit, then dead-letters; fails outright without acksLate + rejectOnWorkerLost', () => {
    const tracker = new WorkerLostTracker(2);
    expect(tracker.decide('a', late)).toBe('requeue');
    expect(tracker.decide('a', late)).toBe('requeue');
    expect(tracker.decide('a', late)).toBe('dead-letter');
    expect(tracker.decide('b', { acksLate: true, rejectOnWorkerLost: false })).toBe('fail');
    expect(tracker.decide('c', { acksLate: false, rejectOnWorkerLost: true })).toBe('fail');
    tracker.decide('d', late);
    tracker.forget('d');
    expect(tracker.count('d')).toBe(0);
  });
});
