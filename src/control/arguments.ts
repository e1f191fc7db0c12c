/**
 * Reading a command's keyword arguments, as they arrive in a request's `arguments` object, with errors that name
 * the command and the argument (they go back to the caller as `{"error": ...}`).
 */
import type { JsonObject, JsonValue } from '../types.js';

export class CommandArgumentError extends Error {}

export class Arguments {
  constructor(
    readonly command: string,
    readonly values: JsonObject,
  ) {}

  private fail(name: string, what: string, value: JsonValue | undefined): never {
    throw new CommandArgumentError(
      `${this.command}: argument ${name} must be ${what}, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`,
    );
  }

  string(name: string): string {
    const value = this.values[name];
    if (typeof value !== 'string' || value === '') this.fail(name, 'a non-empty string', value);
    return value;
  }

  optionalString(name: string): string | null {
    const value = this.values[name];
    if (value === undefined || value === null) return null;
    if (typeof value !== 'string') this.fail(name, 'a string or null', value);
    return value;
  }

  /** A number, also from a numeric string (Celery's CLI converts, other clients may not). */
  optionalNumber(name: string, options: { integer?: boolean; min?: number } = {}): number | null {
    const value = this.values[name];
    if (value === undefined || value === null) return null;
    const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    const what = options.integer ? 'an integer' : 'a number';
    if (typeof n !== 'number' || !Number.isFinite(n)) this.fail(name, what, value);
    if (options.integer && !Number.isInteger(n)) this.fail(name, what, value);
    if (options.min !== undefined && n < options.min) this.fail(name, `${what} >= ${options.min}`, value);
    return n;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.values[name];
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === '1' || value === 1) return true;
    if (value === 'false' || value === '0' || value === 0) return false;
    return this.fail(name, 'true or false', value);
  }

  /** One string or a list of them (Celery's `maybe_list`); empty when absent. */
  stringList(name: string): string[] {
    const value = this.values[name];
    if (value === undefined || value === null) return [];
    if (typeof value === 'string') return [value];
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
    return this.fail(name, 'a string or a list of strings', value);
  }
}
