/** Node names as Celery builds them (`celery/utils/nodenames.py`): `name@host` with `%h`, `%n`, `%d` expanded. */
import { hostname as osHostname } from 'node:os';

export function defaultNodename(host: string = osHostname()): string {
  return `celery@${host}`;
}

/** Expands `%h` (host), `%n` (short host name), `%d` (domain) and `%%`; adds `celery@` when there is no `@`. */
export function expandNodename(template: string, host: string = osHostname()): string {
  const [short = host, ...rest] = host.split('.');
  const domain = rest.join('.');
  const expanded = template.replace(/%([hnd%])/g, (_, key: string) =>
    key === 'h' ? host : key === 'n' ? short : key === 'd' ? domain : '%',
  );
  return expanded.includes('@') ? expanded : `${expanded}@${host}`;
}
