/**
 * Type-level tests for the task context, bound tasks, retries, handlers and eager results, checked by
 * `npm run typecheck`. Each `@ts-expect-error` proves a wrong use does not compile.
 */
import {
  Celery,
  currentTask,
  type AsyncResult,
  type EagerResult,
  type TaskContext,
  type TaskRequest,
} from '../../src/index.js';

const app = new Celery('types', { broker: 'memory://' });

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(_proof?: T): void {}

// Bound tasks: the context is the first parameter, callers never pass it.
const bound = app.task('t.bound', (ctx: TaskContext, x: number, y: string) => `${ctx.request.id}${x}${y}`, {
  bind: true,
});
// Handlers see the task's own result type.
const typed = app.task('t.typed', (x: number) => ({ doubled: x * 2 }), {
  onSuccess(_retval, _request) {
    assertType<Equals<typeof _retval, { doubled: number }>>();
    assertType<Equals<typeof _request, TaskRequest>>();
  },
  afterReturn: (state: string) => void state,
});

export async function checks(): Promise<void> {
  const _r = await bound.delay(1, 'a');
  assertType<Equals<typeof _r, AsyncResult<string>>>();
  // @ts-expect-error the context is not passed by callers
  await bound.delay({} as TaskContext, 1, 'a');
  // @ts-expect-error arguments after the context keep their types
  await bound.delay('1', 'a');

  const eager = await typed.apply([2]);
  assertType<Equals<typeof eager, EagerResult<{ doubled: number }>>>();
  const _value = await eager.get();
  assertType<Equals<typeof _value, { doubled: number }>>();

  // retry() never returns, so a task can end with it.
  const retrying = app.task('t.retrying', (n: number): number => {
    if (n < 0) return currentTask().retry({ countdown: 5, exc: new Error('negative') });
    return n;
  });
  void retrying;
  // @ts-expect-error retry options are checked
  currentTask().retry({ countdwn: 5 });
  // @ts-expect-error updateState takes { state, meta }
  await currentTask().updateState('PROGRESS');

  // Task handler options are typed.
  // @ts-expect-error onRetry is a function
  app.task('t.badHandler', () => 1, { onRetry: 'nope' });
  // @ts-expect-error rateLimit is a string, a number or null
  app.task('t.badRate', () => 1, { rateLimit: true });
}
