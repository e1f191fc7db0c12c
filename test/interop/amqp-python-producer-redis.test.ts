import { pythonProducerSuite } from './amqp-suites.js';

pythonProducerSuite('redis');
