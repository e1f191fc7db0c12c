/** The app under test in docs/tasks.md, "Testing": ordinary tasks, nothing test-specific. */
import { currentTask, type Celery } from 'celeriac';

export function defineTasks(app: Celery) {
  const add = app.task('tasks.add', (x: number, y: number) => x + y);
  const flaky = app.task('tasks.flaky', () => {
    if (currentTask().request.retries < 1) currentTask().retry({ countdown: 0 });
    return 'recovered';
  });
  return { add, flaky };
}
