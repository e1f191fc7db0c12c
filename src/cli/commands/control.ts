/**
 * `celeriac control <command> [args] [-d NODE,..] [-t S] [-j]`: change the workers at runtime, Celeriac or
 * Python (Celery's `celery control`): revoke, terminate, rate_limit, time_limit, pool_grow, shutdown, ...
 */
import type { Command } from 'commander';
import { remoteAction, remoteOptions } from './remote.js';

export function registerControl(program: Command): void {
  remoteOptions(
    program
      .command('control')
      .description(
        'remote-control the workers: revoke, terminate, rate_limit, time_limit, add_consumer, cancel_consumer, ' +
          'pool_grow, pool_shrink, autoscale, enable_events, disable_events, heartbeat, shutdown',
      )
      .argument('<command>', 'the control command')
      .argument('[args...]', "the command's arguments"),
  ).action(remoteAction('control', (replies) => replies));
}
