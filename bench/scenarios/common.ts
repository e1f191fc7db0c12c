/** What several scenarios share: whether Python Celery can run here. */
import { existsSync } from 'node:fs';
import type { Settings } from '../lib/types.js';

let cached: Map<string, string | undefined> | undefined;

/** Undefined when `settings.python` imports celery; otherwise the reason, shown in the Python rows. */
export function pythonUnavailable(this: void): string | undefined {
  return cached?.get('python');
}

export async function probePython(
  settings: Settings,
  probe: (python: string) => Promise<string>,
): Promise<void> {
  cached = new Map();
  if (!existsSync(settings.python)) {
    cached.set('python', `${settings.python} not found (install python3-celery)`);
    return;
  }
  try {
    const version = (await probe(settings.python)).trim();
    settings.pythonAvailable = true;
    cached.set('version', version);
  } catch {
    cached.set('python', `python3-celery not installed for ${settings.python}`);
  }
}

export function celeryVersion(): string | undefined {
  return cached?.get('version');
}
