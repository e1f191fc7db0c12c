/** docs/tasks.md, "Time limits" and "Rate limits". */
import { Celery, SoftTimeLimitExceeded, currentTask } from 'celeriac';

export const app = new Celery('proj', { broker: 'memory://docs-limits', backend: 'memory://docs-limits' });

export const crawl = app.task(
  'tasks.crawl',
  async (pages: number) => {
    const { signal } = currentTask();
    let done = 0;
    try {
      for (; done < pages; done++) await fetchPage(done, signal);
      return { done, complete: true };
    } catch (error) {
      if (!(error instanceof SoftTimeLimitExceeded)) throw error;
      return { done, complete: false }; // the soft limit leaves time to clean up and return
    }
  },
  { softTimeLimit: 0.2, timeLimit: 5 },
);

function fetchPage(_page: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, 50);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}

// At most ten a second on each worker; other tasks are not held up behind them.
export const notify = app.task('tasks.notify', (userId: number) => `notified ${userId}`, {
  rateLimit: '10/s',
});
