/** docs/canvas.md: signatures and the canvas primitives, one function per section. */
import { Celery, chain, chord, group, signature, Signature, type RemoteTaskError } from 'celeriac';

export const app = new Celery('proj', { broker: 'memory://docs-canvas', backend: 'memory://docs-canvas' });

export const add = app.task('tasks.add', (x: number, y: number) => x + y);
export const mul = app.task('tasks.mul', (x: number, y: number) => x * y);
export const xsum = app.task('tasks.xsum', (numbers: number[]) => numbers.reduce((a, b) => a + b, 0));
export const toText = app.task('tasks.to_text', (n: number) => `n=${n}`);
export const fail = app.task('tasks.fail', (_x: number): number => {
  throw new TypeError('no');
});
export const logError = app.task('tasks.log_error', (taskId: string) => `failed: ${taskId}`);

export async function signatures(): Promise<unknown[]> {
  const s = add.s(2, 2); // a signature: the task, its arguments and options
  const r1 = await s.delay(); // send it
  const partial = add.s(2); // a partial: add(x, 2), x given later
  const r2 = await partial.delay(8); // add(8, 2)
  const fixed = add.si(2, 2); // immutable: ignores the parent's result
  const later = add.s(2, 2).set({ countdown: 0.01, queue: 'celery' });
  const dict = add.s(2, 2).toJSON(); // Celery's dict form, readable by Python
  const back = Signature.fromDict(dict, app);
  const byName = signature('tasks.add', [1, 1]).bind(app); // a task defined elsewhere
  return Promise.all(
    [r1, r2, await fixed.delay(), await later.delay(), await back.applyAsync(), await byName.delay()].map(
      (r) => r.get({ timeout: 5 }),
    ),
  );
}

export async function callbacks(): Promise<unknown[]> {
  const result = await add.applyAsync([2, 2], {}, { link: add.s(16) }); // add(4, 16) runs after add(2, 2)
  const value = await result.get({ timeout: 5 });
  const [callback] = await result.children(); // what the task started, once it finished
  return [value, await callback!.get({ timeout: 5 })];
}

export async function chains(): Promise<unknown[]> {
  // (4 + 4) * 8, then as text
  const res = await chain(add.s(4, 4), mul.s(8), toText.s()).applyAsync();
  const value = await res.get({ timeout: 5 }); // 'n=64'
  const parent = await res.parent!.get({ timeout: 5 }); // 64
  // The same chain with pipe (Python's `|`)
  const piped = await add.s(4, 4).pipe(mul.s(8)).pipe(toText.s()).delay();
  return [value, parent, await piped.get({ timeout: 5 })];
}

export async function groups(): Promise<unknown> {
  const res = await group(Array.from({ length: 10 }, (_, i) => add.s(i, i))).applyAsync();
  const values = await res.get({ timeout: 5 }); // [0, 2, 4, ..., 18]
  const done = await res.completedCount(); // 10
  await res.save(); // store it, to find it again by id
  const again = await app.GroupResult.restore<number[]>(res.id);
  return { values, done, same: again?.results.length };
}

export async function chords(): Promise<unknown[]> {
  const res = await chord(
    Array.from({ length: 10 }, (_, i) => add.s(i, i)),
    xsum.s(),
  ).applyAsync();
  const total = await res.get({ timeout: 5 }); // 90
  // A group followed by a task in a chain is a chord too.
  const upgraded = await chain(add.s(1, 1), group(add.s(1), add.s(2)), xsum.s()).applyAsync();
  // chord(header)(body) sends it at once.
  const started = await chord([add.s(1, 1), add.s(2, 2)])(xsum.s());
  return [total, await upgraded.get({ timeout: 5 }), await started.get({ timeout: 5 })];
}

export async function errors(): Promise<unknown[]> {
  const body = xsum.s().linkError(logError.s());
  const res = await chord([add.s(1, 1), fail.s(1)], body).applyAsync();
  const error = await res.get({ timeout: 5 }).catch((e: RemoteTaskError) => e.excType); // 'ChordError'
  const broken = await chain(add.s(1, 1), fail.s(), mul.s(2)).applyAsync();
  const chainError = await broken.get({ timeout: 5 }).catch((e: RemoteTaskError) => e.excType); // 'TypeError'
  return [error, chainError];
}

export async function mapsAndChunks(): Promise<unknown[]> {
  const squares = await mul
    .starmap([
      [1, 1],
      [2, 2],
      [3, 3],
    ])
    .delay(); // one message: [1, 4, 9]
  const texts = await toText.map([1, 2]).delay(); // ['n=1', 'n=2']
  const parts = await add
    .chunks(
      Array.from({ length: 10 }, (_, i) => [i, i] as [number, number]),
      4,
    )
    .applyAsync(); // three tasks of up to four calls each
  return [
    await squares.get({ timeout: 5 }),
    await texts.get({ timeout: 5 }),
    await parts.get({ timeout: 5 }),
  ];
}
