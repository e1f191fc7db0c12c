/**
 * The superuser check Celery's worker makes at start-up (`celery/platforms.py check_privileges`). Celery refuses
 * to run as root when it accepts pickle (unless C_FORCE_ROOT is set) and warns otherwise. Celeriac never decodes
 * pickle, so only the warning remains, and it is given when messages are not signed: a root worker that runs
 * whatever any broker client sends is one unsigned message away from running it as root. Like Celery's (Python's
 * `warnings.warn(SecurityWarning(...))`), it is a process warning on stderr, not a log line, and given once.
 */

export interface ProcessIds {
  readonly uid: number;
  readonly euid: number;
  readonly gid: number;
  readonly egid: number;
}

function currentIds(): ProcessIds | null {
  if (!process.getuid || !process.geteuid || !process.getgid || !process.getegid) return null;
  return { uid: process.getuid(), euid: process.geteuid(), gid: process.getgid(), egid: process.getegid() };
}

/** The warning to print for these ids, or null (not root, or messages are signed). */
export function rootWarning(ids: ProcessIds | null, signing: boolean): string | null {
  if (!ids || signing || (ids.uid !== 0 && ids.euid !== 0)) return null;
  return (
    "You're running the worker with superuser privileges: this is absolutely not recommended!\n\n" +
    'Tasks run with the privileges of the worker, and messages are not signed (see docs/security.md): run the ' +
    "worker as an unprivileged user (systemd's User=, or su/sudo -u).\n\n" +
    `User information: uid=${ids.uid} euid=${ids.euid} gid=${ids.gid} egid=${ids.egid}`
  );
}

let warned = false;

function emitSecurityWarning(message: string): void {
  if (warned) return;
  warned = true;
  process.emitWarning(message, 'SecurityWarning');
}

export function checkPrivileges(
  signing: boolean,
  ids = currentIds(),
  emit: (message: string) => void = emitSecurityWarning,
): void {
  const warning = rootWarning(ids, signing);
  if (warning) emit(warning);
}
