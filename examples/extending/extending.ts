/** docs/extending.md: a serializer of this app's own. */
import { deserialize, serialize } from 'node:v8';
import { Celery, Worker, type PoolFactory, type Serializer } from 'celeriac';

/** Node's structured clone format: Dates, Maps, Sets and BigInts arrive as they were sent. */
export const v8Serializer: Serializer = {
  name: 'v8',
  contentType: 'application/x-v8-serialize',
  contentEncoding: 'binary',
  encode: (value) => serialize(value),
  decode: (data) => deserialize(data) as unknown,
};

export const app = new Celery('proj', {
  broker: 'memory://docs-extending',
  backend: 'memory://docs-extending',
});
app.registerSerializer(v8Serializer);
app.configFromObject({ task_serializer: 'v8', accept_content: ['v8', 'json'] });

export const span = app.task('dates.span', (from: Date, to: Date) => to.getTime() - from.getTime());

/** A Date sent as a Date: with JSON it would arrive as a string. */
export async function sendDates(): Promise<number> {
  const result = await span.delay(new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:01:00Z'));
  return result.get({ timeout: 10 });
}

// A custom pool: runs each task in this event loop, one call at a time per job, and never rejects.
export const inline: PoolFactory = (context) => ({
  kind: 'inline',
  concurrency: context.concurrency,
  start: async () => {},
  stop: async () => {},
  run: async (job) => {
    try {
      const fn = job.task.fn as (...args: unknown[]) => unknown;
      return { ok: true, value: await fn(...job.request.args) };
    } catch (error) {
      return { ok: false, error };
    }
  },
});

export function inlineWorker(): Worker {
  return new Worker(app, { pool: 'inline', pools: { inline } });
}
