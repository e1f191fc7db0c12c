/**
 * App configuration, compiled from the settings table (settings.ts) in two steps:
 * - `normalizeOptions` + `compileSettings`, at `new Celery()` and at each `configFromObject()`: every name is known
 *   (camelCase or Celery's snake_case, mapped here, at this one edge), every value valid, defaults filled in.
 * - `resolveConfig`, when the configuration is first used (`app.conf`: publishing, a worker starting): the
 *   CELERIAC_BROKER_URL / CELERIAC_RESULT_BACKEND overrides, a broker required, the checks between settings.
 * The result is frozen. Types are inferred from the table, so a setting is declared once.
 */
import { didYouMean, ImproperlyConfigured } from '../errors.js';
import { URL_EXAMPLES, urlScheme } from '../lifecycle/url.js';
import { AcceptPolicy, Serializers } from '../protocol/serializers/index.js';
import { CELERY_SETTING_NAMES } from './celery-setting-names.js';
import { camelCase, show, type ValidationContext, type Validator } from './setting-validators.js';
import { SETTINGS, type AnySetting, type SettingName } from './settings.js';

export type { PoolName } from './settings.js';

type InputOf<S> = S extends { readonly validate: Validator<infer In, unknown> } ? In : never;
type OutputOf<S> = S extends { readonly validate: Validator<unknown, infer Out> } ? Out : never;

/** Options of `new Celery(name, options)`. Every one is optional; see docs/configuration.md. */
export type CeleryOptions = { [K in SettingName]?: InputOf<(typeof SETTINGS)[K]> };

/** Every setting validated, defaults filled in; the broker may still be missing. */
export type Settings = { readonly [K in SettingName]: OutputOf<(typeof SETTINGS)[K]> };

/** The compiled, validated configuration: every setting resolved to its value. */
export interface Config extends Omit<Settings, 'broker'> {
  readonly broker: string;
  /** `acceptContent` as the policy that decodes incoming messages. */
  readonly accept: AcceptPolicy;
  /** `resultAcceptContent` (or, when null, `acceptContent`) as the policy results are read with. */
  readonly resultAccept: AcceptPolicy;
}

/** A setting as given: its value and the name it was given under (errors use that name). */
export interface GivenSetting {
  readonly value: unknown;
  readonly as: string;
}

export type GivenSettings = { readonly [K in SettingName]?: GivenSetting };

const ROWS = Object.entries(SETTINGS) as [SettingName, AnySetting][];

/** Celery's snake_case name of every setting -> our name, in one table (derived from the settings rows). */
export const SNAKE_CASE: Readonly<Record<string, SettingName>> = Object.fromEntries(
  ROWS.map(([name, row]) => [row.celery, name]),
);

function settingName(key: string): SettingName | undefined {
  if (Object.hasOwn(SETTINGS, key)) return key as SettingName;
  return Object.hasOwn(SNAKE_CASE, key.toLowerCase()) ? SNAKE_CASE[key.toLowerCase()] : undefined;
}

const KNOWN_NAMES: readonly string[] = [...Object.keys(SETTINGS), ...Object.keys(SNAKE_CASE)];

function unknownSetting(key: string): ImproperlyConfigured {
  if (CELERY_SETTING_NAMES.has(key.toLowerCase())) {
    return new ImproperlyConfigured(
      `Setting "${key}" is a Celery setting that Celeriac does not implement: remove it (docs/configuration.md lists every setting Celeriac has)`,
    );
  }
  const hint = didYouMean(key, KNOWN_NAMES) || didYouMean(camelCase(key), KNOWN_NAMES);
  return new ImproperlyConfigured(
    `Unknown setting "${key}"${hint || ': docs/configuration.md lists every setting'}`,
  );
}

/**
 * Names each setting of `source` (our camelCase names or Celery's snake_case ones, `broker_url`, `result_backend`,
 * ...). An unknown name fails, with the closest known one; `undefined` values count as not given.
 */
export function normalizeOptions(source: Readonly<Record<string, unknown>>): GivenSettings {
  const given: { [K in SettingName]?: GivenSetting } = {};
  for (const [key, value] of Object.entries(source)) {
    const name = settingName(key);
    if (name === undefined) throw unknownSetting(key);
    if (value === undefined) continue;
    const earlier = given[name];
    if (earlier !== undefined) {
      throw new ImproperlyConfigured(
        `Setting ${name} is given twice, as ${earlier.as} and as ${key}: keep one`,
      );
    }
    given[name] = { value, as: key };
  }
  return given;
}

function compileOne(row: AnySetting, given: GivenSetting, context: ValidationContext): unknown {
  const value = row.validate.compile(given.value, given.as, undefined, context);
  if (row.pending !== undefined && 'default' in row && show(value) !== show(row.default)) {
    throw new ImproperlyConfigured(
      `${given.as} = ${show(value)} is not implemented yet (${row.pending}): remove the setting or leave it at ${show(row.default)}`,
    );
  }
  return value;
}

/**
 * Validates every given setting and fills in the defaults, in table order (so `sameAs` sees earlier rows).
 * Serializer names are checked against the app's serializers (the built-in ones by default).
 */
export function compileSettings(
  given: GivenSettings,
  serializers: Serializers = new Serializers(),
): Settings {
  const context: ValidationContext = { serializers };
  const out: Partial<Record<SettingName, unknown>> = {};
  for (const [name, row] of ROWS) {
    const entry = given[name];
    if (entry !== undefined) out[name] = compileOne(row, entry, context);
    else out[name] = 'default' in row ? row.default : out[row.sameAs as SettingName];
  }
  // Each value came from its row's validator (or is its row's default), so it has the row's output type.
  return Object.freeze(out) as Settings;
}

/** An environment override, checked as the setting it overrides; unset or empty is no override. */
function fromEnv<Out>(
  env: NodeJS.ProcessEnv,
  variable: string,
  validate: Validator<unknown, Out>,
): Out | undefined {
  const value = env[variable];
  return value ? validate.compile(value, variable) : undefined;
}

/** The result whitelist, and the checks between it, the backend and the TLS settings (docs/security.md). */
function resolveSecurity(
  settings: Settings,
  broker: string,
  backend: string | null,
  serializers: Serializers,
): AcceptPolicy {
  const given = settings.resultAcceptContent;
  const resultAccept = new AcceptPolicy(
    given ?? settings.acceptContent,
    serializers,
    given ? 'resultAcceptContent' : 'resultAcceptContent (taken from acceptContent)',
  );
  const scheme = backend && backend !== 'disabled' ? urlScheme(backend, 'backend') : null;
  const brokerScheme = urlScheme(broker, 'broker');
  if (settings.brokerUseSsl && (brokerScheme === 'memory' || brokerScheme === 'sqlite')) {
    throw new ImproperlyConfigured(
      `brokerUseSsl is set but the broker (${brokerScheme}://) has no network connection to protect: remove it`,
    );
  }
  if (settings.redisBackendUseSsl && scheme !== null && !['redis', 'rediss', 'sentinel'].includes(scheme)) {
    throw new ImproperlyConfigured(
      `redisBackendUseSsl is set but the result backend is ${scheme}://, not Redis: use brokerUseSsl for rpc://, or remove it`,
    );
  }
  return resultAccept;
}

/** The checks that involve several settings, then the configuration as the app and workers read it. */
export function resolveConfig(
  settings: Settings,
  env: NodeJS.ProcessEnv = process.env,
  /** The app's serializers, which `acceptContent` names. */
  serializers: Serializers = new Serializers(),
): Config {
  const broker = fromEnv(env, 'CELERIAC_BROKER_URL', SETTINGS.broker.validate) ?? settings.broker;
  if (broker === null) {
    throw new ImproperlyConfigured(
      `No broker is configured: set broker (broker_url, or the CELERIAC_BROKER_URL environment variable), for example ${URL_EXAMPLES}`,
    );
  }
  const backend = fromEnv(env, 'CELERIAC_RESULT_BACKEND', SETTINGS.backend.validate) ?? settings.backend;
  const accept = new AcceptPolicy(settings.acceptContent, serializers);
  if (!accept.accepts(settings.taskSerializer)) {
    throw new ImproperlyConfigured(
      `taskSerializer "${settings.taskSerializer}" is not in acceptContent ${JSON.stringify(settings.acceptContent)}: workers would refuse their own messages; add it`,
    );
  }
  const resultAccept = resolveSecurity(settings, broker, backend, serializers);
  return Object.freeze({ ...settings, broker, backend, accept, resultAccept });
}

/** Both steps at once: options (camelCase or snake_case) to the configuration. */
export function compileConfig(
  options: CeleryOptions | Readonly<Record<string, unknown>>,
  env: NodeJS.ProcessEnv = process.env,
): Config {
  return resolveConfig(compileSettings(normalizeOptions(options)), env);
}
