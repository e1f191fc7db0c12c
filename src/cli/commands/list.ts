/**
 * `celeriac list bindings`: Celery's `celery list bindings` table (Queue, Exchange, Routing Key) for the queues the
 * app declares: `taskQueues`, or the default queue when there are none, each with the exchange and binding key
 * Celery gives it. Celery asks the broker (RabbitMQ's management plugin); this shows what the app binds.
 */
import type { Command } from 'commander';
import type { Celery } from '../../index.js';
import { loadApp } from '../load-app.js';
import { globalOptions } from '../main.js';

export interface Binding {
  readonly queue: string;
  readonly exchange: string;
  readonly routingKey: string;
}

/** The bindings of the app's declared queues, as its router declares them before publishing. */
export function appBindings(app: Celery): Binding[] {
  const declared = app.conf.taskQueues;
  const names = declared.length > 0 ? declared.map((q) => q.name) : [app.conf.taskDefaultQueue];
  return names.map((name) => {
    const spec = app.router.queue(name);
    return { queue: name, exchange: spec.exchange ?? name, routingKey: spec.routingKey ?? name };
  });
}

function row(queue: string, exchange: string, routingKey: string): string {
  return `${queue.padEnd(28)} ${exchange.padEnd(28)} ${routingKey}\n`;
}

export function registerList(program: Command): void {
  const list = program.command('list').description('get information from the broker (Celery: celery list)');
  list
    .command('bindings')
    .description("the app's queues with their exchange and routing key (taskQueues or the default queue)")
    .action(async (_flags: unknown, command: Command) => {
      const app = await loadApp(globalOptions(command));
      const lines = [
        row('Queue', 'Exchange', 'Routing Key'),
        row('-'.repeat(16), '-'.repeat(16), '-'.repeat(16)),
      ];
      for (const b of appBindings(app)) lines.push(row(b.queue, b.exchange, b.routingKey));
      process.stdout.write(lines.join(''));
      await app.close();
    });
}
