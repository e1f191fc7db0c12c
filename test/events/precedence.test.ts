/**
 * Out-of-order events: every permutation of a few event sets, fed to Celery 5.2.6's State by capture.py
 * (precedence.json), must give the same final task here; and a property test over random event sets and orders
 * checks the precedence rule itself (celery/states.py `precedence`, celery/events/state.py `Task.event`).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventsState } from '../../src/events/state.js';
import type { TaskRecord } from '../../src/events/task-record.js';
import { statePrecedence, type JsonObject, type JsonValue } from '../../src/types.js';
import { permutations, precedence, type TaskSummary } from '../fixtures/events/fixtures.js';

const ENVELOPE = ['hostname', 'utcoffset', 'pid', 'type', 'local_received'];
const TASK_DEFAULTS: Record<string, JsonValue> = { clock: 0, state: 'PENDING' };

function finalTask(events: readonly JsonObject[]): TaskRecord {
  const state = new EventsState();
  for (const event of events) state.event(event);
  return state.getTask('task-1') as TaskRecord;
}

function celeryView(task: TaskRecord): Record<string, JsonValue> {
  const { root: _root, parent: _parent, worker: _worker, ...fields } = task.asDict();
  return {
    ...fields,
    queue: task.queue,
    ...task.extra,
    children: [...task.childIds].sort(),
    ready: task.ready,
  };
}

function pythonView(summary: TaskSummary): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = { ...summary };
  for (const key of [...ENVELOPE, 'worker', 'origin']) delete out[key];
  return out;
}

describe("Out-of-order task events, against Celery's State", () => {
  const fixture = precedence();
  for (const [name, set] of Object.entries(fixture.sets)) {
    it(`${name}: every order of ${set.events.length} events ends as Celery's State ended`, () => {
      const orders = permutations(set.events.length);
      expect(orders.length).toBe(set.permutations.length);
      orders.forEach((order, i) => {
        const task = finalTask(order.map((index) => set.events[index]!));
        const ours = celeryView(task);
        const theirs = pythonView(set.outcomes[set.permutations[i]!]!);
        for (const key of new Set([...Object.keys(ours), ...Object.keys(theirs)])) {
          expect(ours[key] ?? null, `${name} order ${order.join(',')} ${key}`).toEqual(
            theirs[key] ?? TASK_DEFAULTS[key] ?? null,
          );
        }
      });
    });
  }
});

/** The event subjects a task can get, with the state each stands for (custom ones upper-cased). */
const SUBJECTS: Record<string, string> = {
  sent: 'PENDING',
  received: 'RECEIVED',
  started: 'STARTED',
  succeeded: 'SUCCESS',
  failed: 'FAILURE',
  revoked: 'REVOKED',
  rejected: 'REJECTED',
  retried: 'RETRY',
  progress: 'PROGRESS',
  custom: 'CUSTOM',
};

function event(subject: string, n: number): JsonObject {
  return {
    type: `task-${subject}`,
    uuid: 'task-1',
    hostname: subject === 'sent' ? 'gen1@client' : 'w1@host',
    timestamp: 1_700_000_000 + n,
    local_received: 1_700_000_000.5 + n,
    clock: n + 1,
  };
}

/** Celery's rule, written from its docs: a weaker state never replaces a stronger one, except around RETRY. */
function expectedFinal(states: readonly string[]): string {
  let current = 'PENDING';
  for (const state of states) {
    if (state === 'RETRY' || current === 'RETRY' || statePrecedence(state) <= statePrecedence(current)) {
      current = state;
    }
  }
  return current;
}

describe('Task state precedence (property)', () => {
  const subjects = fc.array(fc.constantFrom(...Object.keys(SUBJECTS)), { minLength: 1, maxLength: 8 });

  it('without retries, any order of the same events ends in the strongest state (the last of equals)', () => {
    const noRetry = fc.array(fc.constantFrom(...Object.keys(SUBJECTS).filter((s) => s !== 'retried')), {
      minLength: 1,
      maxLength: 8,
    });
    fc.assert(
      fc.property(
        noRetry.chain((list) =>
          fc.tuple(fc.constant(list), fc.shuffledSubarray(list, { minLength: list.length })),
        ),
        ([list, shuffled]) => {
          const events = list.map((subject, n) => ({ subject, event: event(subject, n) }));
          const order = shuffled.map((subject) => {
            const index = events.findIndex((entry) => entry.subject === subject);
            return events.splice(index, 1)[0]!;
          });
          const final = finalTask(order.map((entry) => entry.event)).state;
          const states = order.map((entry) => SUBJECTS[entry.subject]!);
          const strongest = Math.min(...states.map(statePrecedence), statePrecedence('PENDING'));
          const lastStrongest =
            states.filter((state) => statePrecedence(state) === strongest).at(-1) ?? 'PENDING';
          expect(final).toBe(lastStrongest);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('in any order, with retries, the state follows the rule event by event and the times are all kept', () => {
    fc.assert(
      fc.property(subjects, (list) => {
        const task = finalTask(list.map((subject, n) => event(subject, n)));
        expect(task.state).toBe(expectedFinal(list.map((subject) => SUBJECTS[subject]!)));
        // Every built-in event sets its own time field, whatever the state did.
        for (const field of [
          'sent',
          'received',
          'started',
          'succeeded',
          'failed',
          'revoked',
          'rejected',
        ] as const) {
          const last = list.lastIndexOf(field);
          expect(task[field]).toBe(last === -1 ? null : 1_700_000_000 + last);
        }
        expect(task.history.map((entry) => entry.type)).toEqual(list.map((subject) => `task-${subject}`));
      }),
      { numRuns: 500 },
    );
  });
});
