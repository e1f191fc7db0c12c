/**
 * `-A MODULE[:NAME]`: loads the user's module (TypeScript through tsx, no build step) and finds its app, exported
 * as `app`, as the default export, or under NAME. `-b` and `--result-backend` become the environment overrides
 * CELERIAC_BROKER_URL and CELERIAC_RESULT_BACKEND before the module loads, so they win over the module's settings
 * (and reach pool children, which inherit the environment and load the module again).
 */
import { Celery, loadAppModule } from '../index.js';

export interface GlobalOptions {
  app?: string;
  broker?: string;
  resultBackend?: string;
  workdir?: string;
  quiet?: boolean;
  /** false with -C/--no-color. */
  color?: boolean;
}

export async function loadApp(options: GlobalOptions): Promise<Celery> {
  if (options.broker) process.env.CELERIAC_BROKER_URL = options.broker;
  if (options.resultBackend) process.env.CELERIAC_RESULT_BACKEND = options.resultBackend;
  if (!options.app) return new Celery('celeriac');
  return loadAppModule(options.app, '-A');
}
