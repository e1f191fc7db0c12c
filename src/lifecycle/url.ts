/** URL helpers shared by broker and backend registries. */
import { ImproperlyConfigured } from '../errors.js';

export const URL_EXAMPLES = 'sqlite://celeriac.db, redis://localhost:6379/0, amqp://guest@localhost//';

/** Masks the password in a URL for logs and errors (`redis://:****@host`). */
export function maskUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1****@');
}

/** The scheme of a URL (`redis` for `redis://...`), or a clear error naming the setting. */
export function urlScheme(url: string, setting: string): string {
  const match = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (!match) {
    throw new ImproperlyConfigured(
      `${setting} "${maskUrl(url)}" is not a URL: expected scheme://..., for example ${URL_EXAMPLES}`,
    );
  }
  return match[1]!.toLowerCase();
}
