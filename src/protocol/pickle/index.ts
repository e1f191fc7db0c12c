/** Python pickles of plain data (the columns Celery's database backend stores through SQLAlchemy's PickleType). */
export { loadPickle, loadPickleInert, type LoadOptions } from './decode.js';
export { dumpPickle, encodeLong } from './encode.js';
export {
  PickleCall,
  PickleError,
  PickleGlobal,
  PickleTuple,
  pickleTuple,
  type InertValue,
  type PickleInput,
  type PickleValue,
} from './values.js';
