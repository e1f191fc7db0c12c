/**
 * The demo's tasks. The broker and result backend come from CELERIAC_BROKER_URL / CELERIAC_RESULT_BACKEND, which
 * the demo points at an SQLite file in a temporary directory: no server needed.
 */
import { Celery } from 'celeriac';

export const app = new Celery('demo');

export const add = app.task('demo.add', (x: number, y: number) => x + y);

export const wordCount = app.task(
  'demo.word_count',
  (text: string) => text.split(/\s+/).filter(Boolean).length,
);

/** An async task: waits a little, as I/O-bound work does, then answers. */
export const fetchLike = app.task('demo.fetch_like', async (id: number) => {
  await new Promise((resolve) => setTimeout(resolve, 5));
  return { id, status: 'ok' };
});
