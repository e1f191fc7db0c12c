/**
 * Typed access to the golden fixtures that capture.py recorded from the real Celery 5.2.6 on Redis.
 * The tests read only these committed files; they never need Redis or Python.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SignatureDict } from '../../src/protocol/message.js';
import type { JsonObject, JsonValue } from '../../src/types.js';

const DIR = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** The inputs of one capture, in JSON: what `apply_async` was called with (snake_case, as in Python). */
export interface CapturedCall {
  task?: string;
  args?: JsonValue[];
  kwargs?: JsonObject;
  countdown?: number;
  /** ISO-8601 as given to Celery. */
  eta?: string;
  /** Seconds from now (number), an ISO-8601 datetime, or a `<...>` placeholder when it came from the clock. */
  expires?: number | string;
  priority?: number;
  queue?: string;
  headers?: JsonObject;
  time_limit?: number;
  soft_time_limit?: number;
  link?: SignatureDict[];
  link_error?: SignatureDict[];
  shadow?: string;
  ignore_result?: boolean;
  retries?: number;
  root_id?: string;
  parent_id?: string;
  group_id?: string;
  group_index?: number;
  serializer?: string;
  compression?: string;
  protocol?: 1;
  /** Canvas captures: the ids, group fields and embed come from Celery's canvas code, not from the call. */
  canvas?: 'chain' | 'group' | 'chord' | 'map';
  /** The message was published by the worker (a retry), not by the client. */
  worker?: boolean;
}

interface FixtureBase {
  name: string;
  description: string;
  source: { celery: string; kombu: string };
  /** Dotted paths of values that change on every capture. */
  volatile: string[];
}

export interface MessageFixture extends FixtureBase {
  kind: 'message';
  call: CapturedCall;
  /** Every `app.now()` value Celery used while publishing (for countdown/expires arithmetic). */
  now: string[];
  /** The exact Redis list elements, oldest first, with the list key each was LPUSHed to. */
  messages: { key: string; raw: string }[];
  /** Other string keys the publish wrote (the chord size key `celery-taskset-meta-<gid>.s`). */
  keys?: Record<string, { value: string; ttl: number }>;
}

export interface ResultFixture extends FixtureBase {
  kind: 'result';
  result_extended: boolean;
  task_id: string;
  key: string;
  ttl: number;
  /** The exact value of `celery-task-meta-<id>`. */
  raw: string;
}

export interface GroupFixture extends FixtureBase {
  kind: 'group';
  group_id: string;
  children: string[];
  key: string;
  ttl: number;
  raw: string;
}

/** `celery.utils.saferepr.saferepr` outputs: argsrepr of args tuples, protocol 1 list reprs, kwargsrepr. */
export interface SafereprFixture extends FixtureBase {
  kind: 'saferepr';
  args: { args: JsonValue[]; maxlen: number; repr: string }[];
  lists: { value: JsonValue[]; repr: string }[];
  kwargs: { kwargs: JsonObject; maxlen: number; repr: string }[];
}

/** Messages signed by Celery's `auth` serializer (capture_auth.py), one case per signer. */
export interface AuthFixture extends FixtureBase {
  kind: 'auth';
  task_id: string;
  /** The body every case signed: `[args, kwargs, embed]`. */
  body: JsonValue;
  cases: {
    name: string;
    key_bits: number;
    subject: string;
    /** The signer's PEM certificate (its key is not kept). */
    certificate: string;
    /** Celery's `Certificate.get_id()` for it. */
    signer_id: string;
    signature_has_separator: boolean;
    messages: { key: string; raw: string }[];
  }[];
}

type Fixture = MessageFixture | ResultFixture | GroupFixture | SafereprFixture | AuthFixture;

function loadAll(): Fixture[] {
  return readdirSync(DIR)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => JSON.parse(readFileSync(DIR + file, 'utf8')) as Fixture);
}

const ALL = loadAll();

export const messageFixtures: MessageFixture[] = ALL.filter((f): f is MessageFixture => f.kind === 'message');
export const resultFixtures: ResultFixture[] = ALL.filter((f): f is ResultFixture => f.kind === 'result');
export const groupFixtures: GroupFixture[] = ALL.filter((f): f is GroupFixture => f.kind === 'group');
export const safereprFixture = ALL.find((f): f is SafereprFixture => f.kind === 'saferepr');
export const authFixture = ALL.find((f): f is AuthFixture => f.kind === 'auth');

export function messageFixture(name: string): MessageFixture {
  const found = messageFixtures.find((f) => f.name === name);
  if (!found) throw new Error(`no message fixture named ${name}: run test/golden/capture.py`);
  return found;
}

export function resultFixture(name: string): ResultFixture {
  const found = resultFixtures.find((f) => f.name === name);
  if (!found) throw new Error(`no result fixture named ${name}: run test/golden/capture.py`);
  return found;
}

/** Every raw envelope Celery produced: seeds for the fuzz tests. */
export function allRawEnvelopes(): string[] {
  return messageFixtures.flatMap((f) => f.messages.map((m) => m.raw));
}
