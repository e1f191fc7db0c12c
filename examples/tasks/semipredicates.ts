/** docs/tasks.md, "Semipredicates": Reject and Ignore. */
import { Celery, Ignore, Reject, currentTask } from 'celeriac';

export const app = new Celery('proj', { broker: 'memory://docs-semi', backend: 'memory://docs-semi' });

const revokedBatches = new Set(['batch-7']);

export const render = app.task(
  'tasks.render',
  (path: string) => {
    if (!path.endsWith('.svg')) {
      // Not worth retrying: reject the message (dead-lettered where the broker keeps dead letters).
      throw new Reject(`cannot render ${path}`, false);
    }
    return `rendered ${path}`;
  },
  { acksLate: true }, // Reject only means something with late acks, as in Celery
);

export const processBatch = app.task('tasks.process_batch', (batchId: string) => {
  if (revokedBatches.has(batchId)) {
    // Acknowledge the message and store nothing: the state machine is ours.
    throw new Ignore();
  }
  return `${batchId} by ${currentTask().request.hostname}`;
});
