/**
 * The worker's side of a chord (`celery/backends/redis.py:452 on_chord_part_return`): each finished header task
 * records its part in the backend's counter, in one round trip; the one that completes the count reads the parts in
 * header order and sends the body with their results, or, when a part failed, fails the body with a ChordError
 * naming that part and calls the body's errbacks (`chord_error_from_stack`).
 */
import type { Celery } from '../app/celery.js';
import type { ChordCounter, ResultBackend } from '../backends/backend.js';
import { buildMeta } from '../backends/meta.js';
import { ChordError } from '../errors.js';
import type { Logger } from '../lifecycle/logger.js';
import { serializeException } from '../protocol/exception.js';
import type { SignatureDict } from '../protocol/message.js';
import { saferepr } from '../protocol/pyrepr.js';
import { EXCEPTION_STATES, PROPAGATE_STATES, States, type JsonValue } from '../types.js';
import { applyDict } from './apply.js';
import { chordParts, isDict, kindOf, tasksOf } from './freeze.js';

/** The header task that finished: its id, group, position and the chord body it carries. */
export interface ChordMember {
  readonly id: string;
  readonly group: string | null;
  readonly groupIndex: number | null;
  readonly chord: SignatureDict;
  readonly rootId?: string | null | undefined;
}

export interface ChordDeps {
  readonly app: Celery;
  readonly backend: ResultBackend;
  readonly logger: Logger;
  /** First delay between retries of a failed counter call, doubled each time (default 200 ms). */
  readonly retryDelayMs?: number;
}

function encodeResult(state: string, result: unknown): JsonValue {
  if (EXCEPTION_STATES.has(state)) return serializeException(result) as unknown as JsonValue;
  return result === undefined ? null : (result as JsonValue);
}

/** `ValueError('boom')`, as Python's repr of the stored exception. */
export function reprStored(value: JsonValue): string {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'exc_type' in value) {
    const message = value.exc_message;
    const args = Array.isArray(message)
      ? message.map((a) => saferepr(a, 1024)).join(', ')
      : saferepr(message);
    const type = typeof value.exc_type === 'string' ? value.exc_type : 'Exception';
    return `${type}(${args})`;
  }
  return saferepr(value, 1024);
}

/** Records a finished header part and, if it was the last one, sends the body (or fails it). */
export async function onChordPartReturn(
  deps: ChordDeps,
  member: ChordMember,
  state: string,
  result: unknown,
): Promise<void> {
  const { backend, logger } = deps;
  const gid = member.group;
  if (!gid) return;
  const counter = backend.chordCounter;
  if (backend.capabilities.chords === 'none' || !counter) {
    logger.error(
      `Task ${member.id} is part of chord ${gid}, but the result backend ${backend.url} cannot count chord parts; ` +
        'the chord body will not run (use a redis://, sqlite:// or memory:// result backend for chords)',
    );
    return;
  }
  const encoded = encodeResult(state, result);
  const progress = await withRetries(deps, `record part ${member.id} of chord ${gid}`, () =>
    counter.addChordPart(gid, { taskId: member.id, state, result: encoded, groupIndex: member.groupIndex }),
  );
  if (progress.size === null) return; // Not sized yet, or taken already (sent, or failed early).
  const complete = progress.ready >= progress.size + progress.extra;
  if (complete) {
    // Exactly one caller takes a complete chord, even when a redelivered part completes it a second time.
    if (await counter.claimChord(gid, 'complete')) await fireChord(deps, counter, gid, member.chord);
    return;
  }
  if (PROPAGATE_STATES.has(state) && (await counter.claimChord(gid, 'incomplete'))) {
    // Fail fast: the body cannot run any more, so it fails now rather than when the last part finishes (Celery
    // waits for every part). The claim removed the size atomically, so the parts still running (on Celeriac or
    // Python workers) find nothing to complete. When the claim fails, the chord was completed meanwhile and
    // whoever completed it fails the body for this part.
    await counter.deleteChord(gid);
    await chordError(
      deps,
      member.chord,
      new ChordError(`Dependency ${member.id} raised ${reprStored(encoded)}`),
    );
  }
}

/** Retries a counter call through a short outage (a Redis reconnect, a busy SQLite file), then gives up loudly. */
async function withRetries<T>(deps: ChordDeps, what: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= CHORD_RETRIES) {
        deps.logger.error(
          { err: error },
          `Could not ${what} after ${attempt} attempts; the chord body will not run`,
        );
        throw error;
      }
      deps.logger.warn(`Could not ${what} (${(error as Error).message}); retrying`);
      await new Promise((resolve) => setTimeout(resolve, (deps.retryDelayMs ?? 200) * 2 ** (attempt - 1)));
    }
  }
}

const CHORD_RETRIES = 5;

/**
 * Sends the body of a chord this caller took, with the parts' results in header order, or fails it when a part
 * failed or the parts cannot be read (Celery's "Join error"). The counter is deleted only once the body was sent
 * or its failure stored.
 */
async function fireChord(
  deps: ChordDeps,
  counter: ChordCounter,
  gid: string,
  body: SignatureDict,
): Promise<void> {
  let error: ChordError | undefined;
  try {
    const parts = await withRetries(deps, `read the parts of chord ${gid}`, () => counter.chordParts(gid));
    const failed = parts.find(([, , state]) => PROPAGATE_STATES.has(state));
    if (failed) {
      const [, taskId, , value] = failed;
      error = new ChordError(`Dependency ${taskId} raised ${reprStored(value)}`);
    } else {
      try {
        await applyDict(deps.app, body, { args: [parts.map(([, , , value]) => value)] });
      } catch (sendError) {
        deps.logger.error(
          { err: sendError },
          `Chord ${gid}: could not send the body: ${(sendError as Error).message}`,
        );
        error = new ChordError(`Callback error: ${String(sendError)}`);
      }
    }
  } catch (joinError) {
    error = new ChordError(`Join error: ${String(joinError)}`);
  }
  if (error) await chordError(deps, body, error);
  await counter.deleteChord(gid);
}

/** Every task id whose result stands for this signature's outcome (a chain's links, a chord's body, ...). */
export function outcomeIds(d: SignatureDict): string[] {
  switch (kindOf(d)) {
    case 'chain':
    case 'group':
      return tasksOf(d).flatMap(outcomeIds);
    case 'chord':
      return outcomeIds(chordParts(d).body);
    default: {
      const id = d.options.task_id;
      const chain = Array.isArray(d.options.chain) ? d.options.chain.filter(isDict) : [];
      return [...(typeof id === 'string' ? [id] : []), ...chain.flatMap(outcomeIds)];
    }
  }
}

/**
 * Fails a chord body: stores FAILURE (the ChordError) for it and for the rest of its chain, counts it as a failed
 * part when the body is itself a member of an outer chord, and calls its errbacks with its id.
 */
export async function chordError(deps: ChordDeps, body: SignatureDict, error: ChordError): Promise<void> {
  const { app, backend, logger } = deps;
  const bodyId = typeof body.options.task_id === 'string' ? body.options.task_id : null;
  logger.error(`Chord body ${body.task}[${bodyId ?? '?'}] fails: ${error.message}`);
  (error as { pyArgs?: JsonValue[] }).pyArgs = [error.message];
  const replyTo = typeof body.options.reply_to === 'string' ? body.options.reply_to : null;
  for (const id of outcomeIds(body)) {
    const meta = buildMeta({ state: States.FAILURE, result: error, request: { taskId: id } });
    await backend.store(meta, { replyTo, correlationId: id });
  }
  const errbacks = Array.isArray(body.options.link_error) ? body.options.link_error.filter(isDict) : [];
  const rootId = typeof body.options.root_id === 'string' ? body.options.root_id : bodyId;
  for (const errback of errbacks) {
    try {
      await applyDict(app, errback, {
        args: bodyId ? [bodyId] : [],
        options: { ...(bodyId ? { parent_id: bodyId } : {}), ...(rootId ? { root_id: rootId } : {}) },
      });
    } catch (sendError) {
      logger.error({ err: sendError }, `Could not send the errback ${errback.task} of chord body ${bodyId}`);
    }
  }
  const outer = body.options.chord;
  const groupId = body.options.group_id;
  if (bodyId && isDict(outer) && typeof groupId === 'string') {
    const index = body.options.group_index;
    await onChordPartReturn(
      deps,
      { id: bodyId, group: groupId, groupIndex: typeof index === 'number' ? index : null, chord: outer },
      States.FAILURE,
      error,
    );
  }
}
