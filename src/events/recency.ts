/**
 * A doubly linked list through the items themselves, oldest to newest: O(1) append, remove and "touch" (move to
 * newest). EventsState evicts its oldest task with it. A JavaScript Map keeps insertion order too, but taking its
 * first key after many deletions walks over the deleted slots until the next rehash, which made a bounded state
 * fed a long stream spend microseconds per event on eviction alone.
 */

export interface Linked<T> {
  older: T | null;
  newer: T | null;
}

export class RecencyList<T extends Linked<T>> {
  private head: T | null = null;
  private tail: T | null = null;

  get oldest(): T | null {
    return this.head;
  }

  append(item: T): void {
    item.older = this.tail;
    item.newer = null;
    if (this.tail !== null) this.tail.newer = item;
    else this.head = item;
    this.tail = item;
  }

  remove(item: T): void {
    if (item.older !== null) item.older.newer = item.newer;
    else if (this.head === item) this.head = item.newer;
    if (item.newer !== null) item.newer.older = item.older;
    else if (this.tail === item) this.tail = item.older;
    item.older = null;
    item.newer = null;
  }

  /** Makes `item` the newest. */
  touch(item: T): void {
    if (this.tail === item) return;
    this.remove(item);
    this.append(item);
  }

  clear(): void {
    this.head = null;
    this.tail = null;
  }
}
