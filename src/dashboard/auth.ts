/**
 * Who may use the dashboard: HTTP basic auth with several users, each either full (may run control actions:
 * revoke, shutdown, send tasks, ...) or read-only (may look; control actions answer 403). The rule that matters
 * for safety: a dashboard listening beyond loopback without auth is an open control plane for the whole fleet,
 * so it refuses to start unless the operator says `--unsafe-no-auth`.
 */
import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

export interface DashboardUser {
  readonly name: string;
  readonly password: string;
  /** Read-only users see everything and change nothing (control actions, sending tasks: 403). */
  readonly readOnly: boolean;
}

/**
 * Parses `user:pass[,user2:pass2]`; a user written `user:pass:ro` is read-only (Flower has no such flag: its
 * basic auth users can all act). Throws naming the bad entry.
 */
export function parseBasicAuth(spec: string, option = '--basic-auth'): DashboardUser[] {
  const users = spec
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const first = entry.indexOf(':');
      if (first <= 0 || first === entry.length - 1) {
        throw new RangeError(
          `${option}: "${entry}" is not user:password (or user:password:ro for read-only)`,
        );
      }
      const name = entry.slice(0, first);
      let password = entry.slice(first + 1);
      const readOnly = password.endsWith(':ro');
      if (readOnly) password = password.slice(0, -3);
      if (password === '') throw new RangeError(`${option}: user "${name}" has an empty password`);
      return { name, password, readOnly };
    });
  if (users.length === 0)
    throw new RangeError(`${option}: no user given (expected user:password[,user2:password2])`);
  const names = new Set<string>();
  for (const user of users) {
    if (names.has(user.name)) throw new RangeError(`${option}: user "${user.name}" is given twice`);
    names.add(user.name);
  }
  return users;
}

/** True for 127.0.0.0/8, ::1 and `localhost`: addresses only this machine can reach. */
export function isLoopback(address: string): boolean {
  if (address === 'localhost') return true;
  const bare = address.replace(/^\[|\]$/g, '');
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare.startsWith('::ffff:127.');
  return false;
}

/** Throws when the address is reachable from other machines and there is no auth, unless `unsafeNoAuth`. */
export function checkExposure(address: string, users: readonly DashboardUser[], unsafeNoAuth: boolean): void {
  if (users.length > 0 || unsafeNoAuth || isLoopback(address)) return;
  throw new RangeError(
    `Refusing to serve the dashboard on ${address} without authentication: anyone who can reach it could revoke ` +
      `tasks and shut workers down. Add --basic-auth user:password, listen on 127.0.0.1, or pass --unsafe-no-auth ` +
      `if the network in front of it does the authentication.`,
  );
}

/** The user an `Authorization: Basic ...` header names, when the password matches; constant-time compare. */
export function authenticate(
  header: string | undefined,
  users: readonly DashboardUser[],
): DashboardUser | null {
  if (header === undefined) return null;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (match === null) return null;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  const name = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  const user = users.find((u) => u.name === name);
  if (user === undefined) return null;
  return sameText(password, user.password) ? user : null;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  // Compare equal lengths so that timingSafeEqual does not throw, and fail on a length mismatch afterwards.
  const equal = timingSafeEqual(x.length === y.length ? x : y, y);
  return equal && x.length === y.length;
}
