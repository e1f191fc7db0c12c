/**
 * Type-level tests, checked by `npm run typecheck` (tsc). Each `@ts-expect-error` proves a wrong call does not
 * compile; if it ever compiles, tsc fails on the unused directive.
 */
import { Celery, type AsyncResult } from '../../src/index.js';

const app = new Celery('types', { broker: 'memory://' });
const add = app.task('tasks.add', (x: number, y: number) => x + y);
const slow = app.task('tasks.slow', async (ms: number): Promise<string> => `${ms}`);
const greet = app.task(
  'tasks.greet',
  (name: string, punctuation?: string) => `hi ${name}${punctuation ?? ''}`,
);

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(_proof?: T): void {}

export async function checks(): Promise<void> {
  const r = await add.delay(2, 3);
  assertType<Equals<typeof r, AsyncResult<number>>>();
  const n: number = await r.get({ timeout: 1 });
  void n;

  // Async task functions yield the awaited type.
  const _s = await slow.delay(10);
  assertType<Equals<Awaited<ReturnType<typeof _s.get>>, string>>();

  // Optional parameters stay optional.
  await greet.delay('ada');
  await greet.delay('ada', '!');

  // @ts-expect-error a string is not a number
  await add.delay('a');
  // @ts-expect-error too few arguments
  await add.delay(1);
  // @ts-expect-error too many arguments
  await add.delay(1, 2, 3);
  // @ts-expect-error applyAsync checks the args tuple too
  await add.applyAsync(['1', 2]);
  await add.applyAsync([1, 2], {}, { countdown: 5, queue: 'math', taskId: 'abc' });
  // @ts-expect-error unknown calling option
  await add.applyAsync([1, 2], {}, { countdwn: 5 });

  // sendTask is untyped by name; its result type can be given.
  const _byName = await app.sendTask<number>('tasks.add', [2, 3]);
  assertType<Equals<typeof _byName, AsyncResult<number>>>();

  // get({ propagate: false }) may return the error instead of throwing.
  const _maybe = await r.get({ propagate: false });
  assertType<Equals<typeof _maybe, number | Error>>();
}
