/**
 * Crontab fields, parsed as Celery's `crontab_parser` does (`celery/schedules.py`): `*`, `*\/n`, `a-b`, `a-b/n`,
 * lists, names, and ranges that wrap around (`22-2` is 22, 23, 0, 1, 2). Two extensions over Celery 5.2: month
 * names (`jan-mar`), and 7 as Sunday in the day of the week, as cron allows. Every mistake is reported at once,
 * naming the field and the value.
 */
import { ImproperlyConfigured } from '../../errors.js';

export type CrontabField = 'minute' | 'hour' | 'dayOfWeek' | 'dayOfMonth' | 'monthOfYear';

/** What a field accepts: a number, a crontab string, or a list of numbers. */
export type CronSpec = number | string | readonly number[];

interface FieldRange {
  readonly min: number;
  readonly max: number;
  /** Lower-case three-letter names and their numbers. */
  readonly names?: Readonly<Record<string, number>>;
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const MONTH_NAMES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

export const FIELD_RANGES: Readonly<Record<CrontabField, FieldRange>> = {
  minute: { min: 0, max: 59 },
  hour: { min: 0, max: 23 },
  // 7 is read as Sunday (cron's convention) and folded into 0 once parsed.
  dayOfWeek: { min: 0, max: 7, names: Object.fromEntries(DAY_NAMES.map((n, i) => [n, i])) },
  dayOfMonth: { min: 1, max: 31 },
  monthOfYear: { min: 1, max: 12, names: Object.fromEntries(MONTH_NAMES.map((n, i) => [n, i + 1])) },
};

/** Celery's snake_case name of a field, for messages that Python users recognise too. */
const CELERY_NAME: Readonly<Record<CrontabField, string>> = {
  minute: 'minute',
  hour: 'hour',
  dayOfWeek: 'day_of_week',
  dayOfMonth: 'day_of_month',
  monthOfYear: 'month_of_year',
};

export class CrontabError extends ImproperlyConfigured {}

function outOfRange(field: CrontabField, value: string | number): CrontabError {
  const { min } = FIELD_RANGES[field];
  const max = field === 'dayOfWeek' ? 6 : FIELD_RANGES[field].max;
  const extra = field === 'dayOfWeek' ? ' (Sunday is 0 or 7, or use names: sun, mon, ...)' : '';
  const celery = CELERY_NAME[field] === field ? '' : ` (Celery's ${CELERY_NAME[field]})`;
  return new CrontabError(`crontab ${field}${celery} "${value}" is out of range ${min}-${max}${extra}`);
}

function invalid(field: CrontabField, spec: string, problem: string): CrontabError {
  return new CrontabError(`crontab ${field} "${spec}" is invalid: ${problem}`);
}

function parseNumber(field: CrontabField, token: string, spec: string): number {
  const range = FIELD_RANGES[field];
  let value: number;
  if (/^\d+$/.test(token)) {
    value = Number(token);
  } else {
    const named = range.names?.[token.slice(0, 3).toLowerCase()];
    if (named === undefined || !/^[a-z]+$/i.test(token)) {
      const hint = range.names
        ? `a number or a name such as ${Object.keys(range.names).slice(0, 2).join(', ')}`
        : 'a number';
      throw invalid(field, spec, `"${token}" is not ${hint}`);
    }
    value = named;
  }
  if (value < range.min || value > range.max) throw outOfRange(field, token);
  return value;
}

function expandRange(field: CrontabField, from: number, to: number): number[] {
  const { min, max } = FIELD_RANGES[field];
  const out: number[] = [];
  if (to < from) {
    // Wrap around the end of the field, as Celery does: 22-2 is 22..23 then 0..2.
    const top = field === 'dayOfWeek' ? 6 : max;
    for (let v = from; v <= top; v++) out.push(v);
    for (let v = min; v <= to; v++) out.push(v);
  } else {
    for (let v = from; v <= to; v++) out.push(v);
  }
  return out;
}

function parseStep(field: CrontabField, text: string | undefined, spec: string): number {
  if (text === undefined) return 1;
  if (!/^\d+$/.test(text) || Number(text) === 0)
    throw invalid(field, spec, `the step "/${text}" must be a positive whole number`);
  return Number(text);
}

function parsePart(field: CrontabField, part: string, spec: string): number[] {
  const { min, max } = FIELD_RANGES[field];
  const match = /^([^/]+?)(?:\/(.*))?$/.exec(part);
  if (!match) throw invalid(field, spec, `"${part}" is not a value, a range a-b or */n`);
  const [, base = '', stepText] = match;
  const step = parseStep(field, stepText, spec);
  let values: number[];
  if (base === '*') {
    values = expandRange(field, min, field === 'dayOfWeek' ? 6 : max);
  } else {
    const bounds = base.split('-');
    if (bounds.length > 2 || bounds.some((b) => b === ''))
      throw invalid(field, spec, `"${base}" is not a number, a name or a range a-b`);
    if (bounds.length === 1 && stepText !== undefined)
      throw invalid(
        field,
        spec,
        `a step needs a range or *, as in */${stepText} or ${base}-${max}/${stepText}`,
      );
    const from = parseNumber(field, bounds[0]!, spec);
    const to = bounds.length === 2 ? parseNumber(field, bounds[1]!, spec) : from;
    values = expandRange(field, from, to);
  }
  return values.filter((_, i) => i % step === 0);
}

/** The sorted set of values a field matches; throws a CrontabError naming the field and the value. */
export function parseField(field: CrontabField, spec: CronSpec | undefined): number[] {
  const values = new Set<number>();
  if (spec === undefined || spec === null) {
    for (const v of parsePart(field, '*', '*')) values.add(v);
  } else if (typeof spec === 'number') {
    if (!Number.isInteger(spec)) throw outOfRange(field, spec);
    const { min, max } = FIELD_RANGES[field];
    if (spec < min || spec > max) throw outOfRange(field, spec);
    values.add(spec);
  } else if (typeof spec === 'string') {
    const text = spec.trim();
    if (text === '') throw invalid(field, spec, 'it is empty (use "*" for every value)');
    for (const part of text.split(',')) {
      if (part.trim() === '') throw invalid(field, spec, 'it has an empty part between commas');
      for (const v of parsePart(field, part.trim(), spec)) values.add(v);
    }
  } else if (Array.isArray(spec)) {
    if (spec.length === 0) throw invalid(field, '[]', 'the list is empty');
    for (const v of spec as readonly number[]) for (const w of parseField(field, v)) values.add(w);
  } else {
    throw new CrontabError(
      `crontab ${field} must be a number, a string such as "*/15" or a list of numbers, got ${typeof spec}`,
    );
  }
  if (field === 'dayOfWeek' && values.delete(7)) values.add(0);
  return [...values].sort((a, b) => a - b);
}

/** The field as written, for messages, the store's definition key and `toString()`. */
export function fieldText(spec: CronSpec | undefined): string {
  if (spec === undefined) return '*';
  if (Array.isArray(spec)) return spec.join(',');
  return String(spec);
}
