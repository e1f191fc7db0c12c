/**
 * What the pickle codec reads and writes: plain data only (reference: `pickletools`, `pickle.py` in Python 3.11).
 *
 * Python value  ->  JavaScript value
 *   None, bool, str            null, boolean, string
 *   int                        number when it is a safe integer, else bigint
 *   float                      number
 *   bytes, bytearray           Uint8Array
 *   list, tuple, set, frozenset  array (a tuple, set or frozenset is not told apart from a list once read)
 *   dict                       plain object; int, bool and None keys become strings as `json.dumps` writes them
 *
 * Writing, a `PickleTuple` (see `pickleTuple`) is written as a Python tuple and a `Set` as a Python set.
 */
import { DecodeError } from '../../errors.js';

export type PickleValue =
  null | boolean | number | bigint | string | Uint8Array | PickleValue[] | { [key: string]: PickleValue };

/** A value to write: plain data, plus tuples, sets and the few Python objects Celeriac has to write (`PickleCall`). */
/** What `loadPickle` with `inert: true` returns: plain data where globals and their calls are inert records. */
export type InertValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleGlobal
  | PickleCall
  | InertValue[]
  | { [key: string]: InertValue };

export type PickleInput =
  | null
  | undefined
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleTuple
  | PickleCall
  | ReadonlySet<PickleInput>
  | readonly PickleInput[]
  | { readonly [key: string]: PickleInput };

/** A Python tuple to write (reading gives a plain array). */
export class PickleTuple {
  constructor(readonly items: readonly PickleInput[]) {}
}

export function pickleTuple(...items: PickleInput[]): PickleTuple {
  return new PickleTuple(items);
}

/** A Python global (`module.name`), never resolved: only read in inert mode, or written for Python to resolve. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
}

/**
 * A call of a global with arguments (pickle's REDUCE). Written, Python makes the call when it loads the pickle
 * (used for `celery.result.GroupResult`, which Python's database backend stores pickled). Read in inert mode it
 * is only a record: nothing is called.
 */
export class PickleCall {
  constructor(
    readonly callee: PickleGlobal | PickleCall,
    readonly args: readonly unknown[],
  ) {}
}

/** A pickle that is malformed, or that holds something other than plain data (a class, a reduce call, ...). */
export class PickleError extends DecodeError {}
