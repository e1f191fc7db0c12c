/**
 * Parent and child links between tasks, as `State._event` keeps them: after every task event, a task that names
 * a parent is added to the parent's children, or, while the parent is unknown, waits in `_tasks_to_resolve` for
 * it. Celery holds those with weak references and never bounds the waiting lists; here a task leaving the state
 * is unlinked at once (O(its links)), so the waiting lists hold only tasks still in the state.
 */
import type { TaskRecord } from './task-record.js';

export class TaskLinks {
  /** Children whose parent has not been seen yet, by parent id. */
  private readonly orphans = new Map<string, Set<TaskRecord>>();

  constructor(
    private readonly lookup: (id: string) => TaskRecord | undefined,
    /** Called for a parent that a child names: Celery's `self.tasks[parent_id]` is an LRU read. */
    private readonly touch: (parent: TaskRecord) => void,
  ) {}

  /** Links `task` to its parent (or waits for it) and adopts the children that were waiting for `task`. */
  link(task: TaskRecord): void {
    const parentId = task.parentId;
    if (parentId) {
      const parent = this.lookup(parentId);
      if (parent !== undefined) {
        this.touch(parent);
        (parent.children ??= new Set()).add(task);
      } else {
        let waiting = this.orphans.get(parentId);
        if (waiting === undefined) this.orphans.set(parentId, (waiting = new Set()));
        waiting.add(task);
      }
      const linked = (task.linkedParents ??= []);
      if (!linked.includes(parentId)) linked.push(parentId);
    }
    const children = this.orphans.get(task.uuid);
    if (children !== undefined) {
      this.orphans.delete(task.uuid);
      const own = (task.children ??= new Set());
      for (const child of children) own.add(child);
    }
  }

  /** Removes `task` from every parent's children and waiting list it was put in. */
  unlink(task: TaskRecord): void {
    for (const parentId of task.linkedParents ?? []) {
      this.lookup(parentId)?.children?.delete(task);
      const waiting = this.orphans.get(parentId);
      waiting?.delete(task);
      if (waiting?.size === 0) this.orphans.delete(parentId);
    }
  }

  clear(): void {
    this.orphans.clear();
  }
}
