/** docs/tasks.md, "Retrying": retry() and autoretryFor with exponential backoff. */
import { Celery, currentTask } from 'celeriac';

export const app = new Celery('proj', { broker: 'memory://docs-retry', backend: 'memory://docs-retry' });

class FailWhale extends Error {
  override name = 'FailWhale';
}

/** A stand-in for a flaky remote service: it fails the first two calls. */
let calls = 0;
async function postStatusUpdate(message: string): Promise<string> {
  calls++;
  if (calls <= 2) throw new FailWhale('over capacity');
  return `posted: ${message}`;
}

export const tweet = app.task('tasks.tweet', async (message: string) => {
  try {
    return await postStatusUpdate(message);
  } catch (error) {
    // Re-sent with the same id and retries + 1; after maxRetries (3) the FailWhale is re-thrown.
    return currentTask().retry({ exc: error, countdown: 0.01 });
  }
});

export const fetchFeed = app.task(
  'tasks.fetch_feed',
  async (url: string) => {
    const response = await fetch(url, { signal: currentTask().signal });
    return response.status;
  },
  {
    autoretryFor: ['TypeError'], // fetch() throws TypeError on network errors
    retryBackoff: true, // 1 s, 2 s, 4 s, ... (with full jitter), capped by retryBackoffMax (600 s)
    maxRetries: 5,
  },
);
