/** docs/tasks.md, "States": custom states with updateState, followed with onProgress. */
import { Celery, currentTask } from 'celeriac';

export const app = new Celery('proj', { broker: 'memory://docs-states', backend: 'memory://docs-states' });

export const upload = app.task('tasks.upload_files', async (filenames: string[]) => {
  for (const [i, name] of filenames.entries()) {
    await processFile(name);
    await currentTask().updateState({ state: 'PROGRESS', meta: { current: i + 1, total: filenames.length } });
  }
  return filenames.length;
});

async function processFile(_name: string): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 5));
}

export async function followProgress(files: string[]): Promise<{ progress: unknown[]; result: number }> {
  const result = await upload.delay(files);
  const progress: unknown[] = [];
  const count = await result.get({
    timeout: 10,
    interval: 0.001,
    onProgress: (meta) => progress.push(meta.result),
  });
  return { progress, result: count };
}
