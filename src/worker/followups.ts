/**
 * What a finished task publishes next, as `celery/app/trace.py:440-530`: link callbacks with the result
 * prepended, then the next link of its chain (the chain travels reversed: the next task is the last element).
 * On failure, link errors are called with the failed task's id (Celery's old-style errback signature).
 */
import type { Celery } from '../app/celery.js';
import { callOptionsFromSignature } from '../app/publish.js';
import { applyDict } from '../canvas/apply.js';
import { groupDict, kindOf } from '../canvas/freeze.js';
import type { SignatureDict } from '../protocol/message.js';
import type { JsonObject, JsonValue, ResultTuple } from '../types.js';
import type { Request } from './request.js';

/** Publishes a signature received in a message, with `prefix` prepended to its args unless it is immutable. */
export async function applySignature(
  app: Celery,
  sig: SignatureDict,
  prefix: readonly unknown[],
  parent: Request,
  extra: { chain?: SignatureDict[] } = {},
): Promise<ResultTuple> {
  const options = callOptionsFromSignature(sig.options ?? {});
  const args = sig.immutable ? [...(sig.args ?? [])] : [...prefix, ...(sig.args ?? [])];
  const result = await app.sendTask(sig.task, args, sig.kwargs ?? {}, {
    ...options,
    parentId: parent.id,
    rootId: parent.message.rootId ?? parent.id,
    ...(extra.chain && extra.chain.length > 0 ? { chain: extra.chain } : {}),
  });
  return result.asTuple();
}

/**
 * Publishes callbacks and the next chain link after a success; returns their result tuples (`children`). Several
 * callbacks are sent as one group, as Celery does; any signature may be a canvas (a chord upgraded from a group in a
 * chain, a group, a chain), which is sent as such.
 */
export async function publishSuccessFollowUps(
  app: Celery,
  request: Request,
  value: unknown,
): Promise<ResultTuple[]> {
  const { embed } = request.message;
  const children: ResultTuple[] = [];
  const lineage: JsonObject = { parent_id: request.id, root_id: request.message.rootId ?? request.id };
  const args = [value as JsonValue];
  const callbacks = embed.callbacks ?? [];
  if (callbacks.length === 1) {
    children.push((await applyDict(app, callbacks[0]!, { args, options: lineage })).asTuple());
  } else if (callbacks.length > 1) {
    const groups = callbacks.filter((c) => kindOf(c) === 'group');
    const plain = callbacks.filter((c) => kindOf(c) !== 'group');
    for (const g of groups) children.push((await applyDict(app, g, { args, options: lineage })).asTuple());
    if (plain.length > 0) {
      children.push((await applyDict(app, groupDict(plain), { args, options: lineage })).asTuple());
    }
  }
  if (embed.chain && embed.chain.length > 0) {
    const rest = [...embed.chain];
    const next = rest.pop()!;
    const sent = await applyDict(app, next, { args, options: { ...lineage, chain: rest } });
    children.push(sent.asTuple());
  }
  return children;
}

/** Calls link errors with the failed task's id, as Celery does for errbacks it cannot call in-process. */
export async function publishErrbacks(app: Celery, request: Request): Promise<void> {
  for (const errback of request.message.embed.errbacks ?? []) {
    await applySignature(app, errback, [request.id], request);
  }
}
