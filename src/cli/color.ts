/**
 * Colours, as Celery's CLI: only on a terminal, never with `-C/--no-color`, never when NO_COLOR is set to a
 * non-empty value (no-color.org).
 */
import type { GlobalOptions } from './load-app.js';

export function useColor(
  options: GlobalOptions,
  stream: { isTTY?: boolean } = process.stdout,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (options.color === false) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return stream.isTTY === true;
}
