/**
 * events/'s side of the port app/ defines in app/events-port.ts: `app.events` and the client's `task-sent`.
 * Loading this module installs it (src/index.ts and the worker do).
 */
import { installEvents, type EventsPort } from '../app/events-port.js';
import type { Celery } from '../app/celery.js';
import type { Broker } from '../brokers/broker.js';
import { BrokerEventDispatcher, taskSentFields } from './dispatcher.js';
import { AppEvents } from './receiver.js';

declare module '../app/events-port.js' {
  interface EventsTypes {
    api: AppEvents;
  }
}

const apis = new WeakMap<Celery, AppEvents>();
/** One client dispatcher per broker connection (a closed app gets a new broker, and a new dispatcher). */
const senders = new WeakMap<Broker, BrokerEventDispatcher>();

/** A receiver's wakeup (Celery's): a `heartbeat` broadcast through remote control, no replies awaited. */
async function wakeWorkers(app: Celery): Promise<void> {
  await app.control.heartbeat();
}

export const eventsPort: EventsPort = {
  api: (app) => {
    let api = apis.get(app);
    if (!api) {
      api = new AppEvents(app, () => wakeWorkers(app));
      apis.set(app, api);
    }
    return api;
  },
  taskSent: (app, broker, wire, where) => {
    let sender = senders.get(broker);
    if (!sender) {
      sender = new BrokerEventDispatcher({
        broker,
        hostname: app.origin,
        logger: app.logger,
        clock: app.clock,
      });
      senders.set(broker, sender);
    }
    const { queue, exchange, routingKey } = where;
    return sender.send('task-sent', taskSentFields(wire.headers, { queue, exchange, routingKey }));
  },
};

installEvents(eventsPort);
