/**
 * The program a pool child runs, in a worker thread (`threads`) or a child process (`prefork`). It loads the app
 * module itself, runs one task at a time with `invokeTask` against its own task registry, and reports results,
 * log lines and calls (publishing, result reads, `updateState`) back to the worker, which alone holds broker and
 * backend connections (connections.ts).
 *
 * A prefork child ignores SIGTERM, SIGINT, SIGQUIT and SIGHUP: a signal sent to the whole process group (systemd,
 * Ctrl-C, `kill -TERM -<pgid>`) must not kill the task it is running; the worker drains and then tells its children
 * to exit. A child whose worker disappears (its IPC channel closes) exits at once.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino, type Logger } from 'pino';
import type { BackendCapabilities } from '../../backends/backend.js';
import type { BrokerCapabilities } from '../../brokers/broker.js';
import { Celery } from '../../app/celery.js';
import type { TaskRequest } from '../../app/context.js';
import { invokeTask } from '../../app/trace.js';
import { EncodeError, ImproperlyConfigured, NotRegistered, SoftTimeLimitExceeded } from '../../errors.js';
import { deferred, type Deferred } from '../../lifecycle/async.js';
import { urlScheme } from '../../lifecycle/url.js';
import { registerBuiltinTasks } from '../../canvas/builtins.js';
// A pool child is a program of its own: it installs the canvas port (app/canvas-port.ts) as src/index.ts does.
import '../../canvas/port.js';
import '../../events/port.js';
import { importModules, includedModules, loadAppModule } from '../app-module.js';
import { ParentBackend, ParentBroker } from './connections.js';
import {
  CHILD_INIT_ENV,
  errorFromData,
  errorToData,
  Outbox,
  type CallTarget,
  type ChildInit,
  type FromChild,
  type ToChild,
} from './ipc.js';

interface ParentLink {
  send(batch: FromChild[], callback?: () => void): void;
  onMessages(handler: (batch: ToChild[]) => void): void;
  exit(code: number): void;
}

function processLink(): ParentLink {
  return {
    send: (batch, callback) => {
      if (!process.connected) return;
      process.send!(batch, undefined, {}, callback ? () => callback() : undefined);
    },
    onMessages: (handler) => process.on('message', (batch) => handler(batch as ToChild[])),
    // Written messages are flushed first: an empty batch's callback fires once everything before it is written.
    exit: (code) => {
      if (!process.connected) process.exit(code);
      process.send!([], undefined, {}, () => process.exit(code));
    },
  };
}

function threadLink(): ParentLink {
  const port = parentPort!;
  return {
    send: (batch, callback) => {
      port.postMessage(batch);
      callback?.();
    },
    onMessages: (handler) => port.on('message', (batch) => handler(batch as ToChild[])),
    exit: (code) => process.exit(code),
  };
}

class Child {
  private readonly outbox: Outbox<FromChild>;
  private readonly calls = new Map<number, Deferred<unknown>>();
  private readonly running = new Map<number, AbortController>();
  private nextCall = 1;
  private app: Celery | undefined;
  readonly logger: Logger;

  constructor(
    private readonly init: ChildInit,
    private readonly link: ParentLink,
  ) {
    this.outbox = new Outbox<FromChild>(
      (batch) => link.send(batch),
      (message, error) => this.unsendable(message, error),
    );
    const outbox = this.outbox;
    this.logger = pino(
      { level: init.logLevel, base: null },
      { write: (line: string) => outbox.push({ t: 'log', line: line.trimEnd() }) },
    );
  }

  /** A result that structured clone refuses (a function, a socket): the task fails with EncodeError instead. */
  private unsendable(message: FromChild, error: unknown): FromChild | undefined {
    if (message.t === 'done' && message.ok) {
      const reason = new EncodeError(
        `The return value of the task cannot be sent from the pool child to the worker: ${(error as Error).message}`,
      );
      return {
        t: 'done',
        jobId: message.jobId,
        ok: false,
        error: errorToData(reason),
        memory: message.memory,
      };
    }
    this.logger.error(`Could not send a ${message.t} message to the worker: ${(error as Error).message}`);
    return undefined;
  }

  readonly call = (
    target: CallTarget,
    method: string,
    args: readonly unknown[],
    jobId?: number,
  ): Promise<unknown> => {
    const callId = this.nextCall++;
    const answer = deferred<unknown>();
    this.calls.set(callId, answer);
    this.outbox.push({ t: 'call', callId, target, method, args, ...(jobId === undefined ? {} : { jobId }) });
    return answer.promise;
  };

  async start(): Promise<void> {
    const { init } = this;
    const app = await loadAppModule(init.appModule, 'appModule');
    // Worker -I/--include: the same modules as the main process, after the app.
    await importModules(includedModules(), 'CELERIAC_INCLUDE');
    if (!(app instanceof Celery)) {
      throw new ImproperlyConfigured(
        `appModule ${init.appModule}: the app was created with another copy of celeriac than the one running the ` +
          'worker; pool children need the module to import the same package (check for duplicate installs)',
      );
    }
    this.installStandIns(app);
    registerBuiltinTasks(app);
    app.logger = this.logger;
    app.origin = init.hostname;
    this.app = app;
    this.outbox.push({ t: 'ready', pid: process.pid });
  }

  /**
   * The app's broker and backend URLs (and the worker's, should they differ) resolve to stand-ins that forward to
   * the worker. Registered on this app only: nothing process-wide changes.
   */
  private installStandIns(app: Celery): void {
    const { broker, backend } = this.init;
    const brokerFactory = () =>
      new ParentBroker(broker.url, broker.capabilities as BrokerCapabilities, this.call);
    for (const url of new Set([app.conf.broker, broker.url])) {
      app.registerBroker(urlScheme(url, 'broker'), brokerFactory);
    }
    const backendUrl = backend?.url ?? 'disabled://';
    const backendCapabilities = (backend?.capabilities ?? {}) as BackendCapabilities;
    const backendFactory = () => new ParentBackend(backendUrl, backendCapabilities, this.call);
    for (const url of new Set([app.conf.backend, backend?.url])) {
      if (url && url !== 'disabled' && url !== 'disabled://') {
        app.registerBackend(urlScheme(url, 'backend'), backendFactory);
      }
    }
  }

  receive(batch: ToChild[]): void {
    for (const message of batch) {
      switch (message.t) {
        case 'run':
          void this.run(message.jobId, message.name, message.request);
          break;
        case 'abort':
          this.abort(message.jobId, message.soft);
          break;
        case 'reply': {
          const answer = this.calls.get(message.callId);
          this.calls.delete(message.callId);
          if (message.ok) answer?.resolve(message.value);
          else answer?.reject(errorFromData(message.error));
          break;
        }
        case 'exit':
          this.outbox.flush();
          this.link.exit(0);
          break;
      }
    }
  }

  private abort(jobId: number, soft: number): void {
    const reason = new SoftTimeLimitExceeded(`SoftTimeLimitExceeded(${soft})`);
    (reason as { pyArgs?: unknown[] }).pyArgs = [];
    this.running.get(jobId)?.abort(reason);
  }

  private memoryKiB(): number {
    const usage = process.memoryUsage();
    // A thread shares the process's RSS; what it owns is its V8 heap and the external memory it allocated.
    const bytes = this.init.kind === 'prefork' ? usage.rss : usage.heapUsed + usage.external;
    return Math.round(bytes / 1024);
  }

  private async run(jobId: number, name: string, request: TaskRequest): Promise<void> {
    const task = this.app?.tasks.get(name);
    const controller = new AbortController();
    this.running.set(jobId, controller);
    try {
      if (!task) {
        const error = new NotRegistered(name);
        (error as { pyArgs?: unknown[] }).pyArgs = [name];
        throw error;
      }
      const value = await invokeTask({
        name,
        fn: task.fn,
        options: task.options,
        request,
        signal: controller.signal,
        updateState: async (state, meta) => {
          await this.call('job', 'updateState', [state, meta], jobId);
        },
      });
      this.outbox.push({ t: 'done', jobId, ok: true, value, memory: this.memoryKiB() });
    } catch (error) {
      this.outbox.push({ t: 'done', jobId, ok: false, error: errorToData(error), memory: this.memoryKiB() });
    } finally {
      this.running.delete(jobId);
    }
  }

  /** Reports an error that ends the child (it could not start, or something escaped a task), then exits. */
  fail(error: unknown, starting: boolean): void {
    if (starting) this.outbox.push({ t: 'fatal', error: errorToData(error) });
    else this.logger.fatal({ err: error }, `Pool child crashed: ${(error as Error).message}`);
    this.outbox.flush();
    this.link.exit(1);
  }
}

function main(): void {
  const isThread = parentPort !== null;
  const init = (
    isThread ? workerData : JSON.parse(process.env[CHILD_INIT_ENV] ?? 'null')
  ) as ChildInit | null;
  if (!init) throw new Error('child-main runs only as a pool child started by a celeriac worker');
  const link = isThread ? threadLink() : processLink();
  if (!isThread) {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP'] as const) process.on(signal, () => {});
    process.on('disconnect', () => process.exit(0));
  }
  const child = new Child(init, link);
  let started = false;
  link.onMessages((batch) => child.receive(batch));
  // Node's default for an error nobody catches is to die; the worker then fails the running task
  // (WorkerLostError) and starts a replacement. Report it first so the log says why.
  process.on('uncaughtException', (error) => child.fail(error, !started));
  child.start().then(
    () => (started = true),
    (error: unknown) => child.fail(error, true),
  );
}

main();
