import { pythonWorkerSuite } from './amqp-suites.js';

pythonWorkerSuite('rpc');
