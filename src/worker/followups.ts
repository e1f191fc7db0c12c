/**
 * What a finished task publishes next, as `celery/app/trace.py:440-530`: link callbacks with the result
 * prepended, then the next link of its chain (the chain travels reversed: the next task is the last element).
 * On failure, link errors are called with the failed task's id (Celery's old-style errback signature).
 */
import type { Celery } from '../app/celery.js';
import { callOptionsFromSignature } from '../app/publish.js';
import type { SignatureDict } from '../protocol/message.js';
import type { ResultTuple } from '../types.js';
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

/** Publishes callbacks and the next chain link after a success; returns their result tuples (`children`). */
export async function publishSuccessFollowUps(
  app: Celery,
  request: Request,
  value: unknown,
): Promise<ResultTuple[]> {
  const { embed } = request.message;
  const children: ResultTuple[] = [];
  for (const callback of embed.callbacks ?? []) {
    children.push(await applySignature(app, callback, [value], request));
  }
  if (embed.chain && embed.chain.length > 0) {
    const rest = [...embed.chain];
    const next = rest.pop()!;
    children.push(await applySignature(app, next, [value], request, { chain: rest }));
  }
  return children;
}

/** Calls link errors with the failed task's id, as Celery does for errbacks it cannot call in-process. */
export async function publishErrbacks(app: Celery, request: Request): Promise<void> {
  for (const errback of request.message.embed.errbacks ?? []) {
    await applySignature(app, errback, [request.id], request);
  }
}
