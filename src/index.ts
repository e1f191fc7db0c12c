/** Celeriac's public API. Everything not exported here is internal. */
// Installs the canvas port (app/canvas-port.ts): task.s(), app.signature() and eager follow-ups need it.
import './canvas/port.js';
// Installs the control port (app/control-port.ts): app.control and AsyncResult.revoke() need it.
import './control/port.js';
import './events/port.js';
export { Celery, type TaskCall } from './app/celery.js';
export type { CeleryOptions, Config, PoolName } from './app/config.js';
export type { SecurityOptions } from './app/security.js';
export type { TlsSetting } from './app/tls.js';
export type { TaskRequest, DeliveryInfo, TaskContext, StateUpdate } from './app/context.js';
export { currentTask, maybeCurrentTask } from './app/current-task.js';
export { instrumentTracing, type TracingOptions } from './app/tracing.js';
export {
  exponentialBackoff,
  type RetryOptions,
  type ErrorMatcher,
  type AutoretryOptions,
} from './app/retry.js';
export { EagerResult } from './result/eager-result.js';
export type { EventDispatcher } from './events/dispatcher.js';
export {
  EventReceiver,
  AppEvents,
  type EventHandler,
  type EventHandlers,
  type ReceiverOptions,
} from './events/receiver.js';
export { Heartbeat, SOFTWARE_INFO } from './worker/heartbeat.js';
export type { TaskEvents } from './worker/task-events.js';
export type { CeleryEvent, EventFields } from './events/event.js';
export {
  EventsState,
  type EventsStateOptions,
  type EventOutcome,
  type EventListener,
  type DriftWarning,
} from './events/state.js';
export type { TaskSnapshot, TaskEventEntry } from './events/task-record.js';
export type { WorkerSnapshot } from './events/worker-record.js';
export {
  TASK_SORT_KEYS,
  TASK_TIME_FIELDS,
  type TaskQuery,
  type TaskPage,
  type TaskSortKey,
  type TaskTimeField,
  type TaskSearchField,
} from './events/task-query.js';
export type { EventCounter } from './events/counters.js';
export { LamportClock } from './events/clock.js';
export { prepareEvent, splitEventBody, type ReceivedEvent, type PrepareOptions } from './events/incoming.js';
export { EventDumper, DUMP_GREETING } from './events/dumper.js';
export { renderTop, renderPlain, type TopOptions } from './events/top.js';
export { Hooks, type HookName, type HookPayloads, type HookHandler } from './app/hooks.js';
export type { RouteTarget, RouterFn, TaskRoutes } from './app/routing.js';
export {
  Task,
  type CallOptions,
  type TaskOptions,
  type TaskHandlers,
  type SignatureLike,
} from './app/task.js';
export { AsyncResult, type GetOptions } from './result/async-result.js';
export { GroupResult, resultFromTuple, type ResultNode, type RevokeOptions } from './result/group-result.js';
export { Signature, signature, type AnySignature, type ResultOf, type ArgsOf } from './canvas/signature.js';
export { Chain, chain, type LinkFrom } from './canvas/chain.js';
export { Group, group, type ResultsOf } from './canvas/group.js';
export { Chord, chord, type HeaderResult, type ChordStarter } from './canvas/chord.js';
export { Chunks } from './canvas/chunks.js';
export type { Suffixes, Remaining } from './app/task.js';
export type { GroupResultFactory } from './app/celery.js';
export {
  Control,
  Inspect,
  type BroadcastOptions,
  type DestinationOptions,
  type NodeReplies,
  type RevokeCallOptions,
} from './control/client.js';
export {
  builtinCommandMeta,
  type CommandMeta,
  type CommandType,
  type ArgumentType,
} from './control/commands.js';
export type { UserCommandContext, UserCommandHandler, UserCommandOptions } from './control/registry.js';
export type {
  ActiveQueue,
  ClockReply,
  ControlReply,
  HelloReply,
  QueryTaskReply,
  RequestInfoReply,
  ScheduledReply,
  StatsReply,
} from './control/replies.js';
export { Worker, type WorkerOptions, type WorkerState, type WorkerStats } from './worker/worker.js';
export type { Pool, PoolJob, PoolOutcome, PoolInfo } from './worker/pools/pool.js';
export type { PoolContext, PoolFactory } from './worker/pools/index.js';
export { crontab, Crontab, type CrontabOptions } from './beat/schedules/crontab.js';
export type { CronSpec } from './beat/schedules/crontab-fields.js';
export { solar, Solar, SOLAR_EVENTS, type SolarEvent } from './beat/schedules/solar.js';
export { interval, Interval, type IntervalOptions } from './beat/schedules/interval.js';
export type { Schedule, ScheduleState } from './beat/schedules/schedule.js';
export { Beat, type BeatOptions } from './beat/beat.js';
export type { PeriodicTaskEntry, AddPeriodicTaskOptions, CatchUp, ScheduleLike } from './app/periodic.js';
// Extending (docs/extending.md): app.registerBroker(), app.registerBackend() and app.registerSerializer() take these.
export { registerBrokerDriver, type BrokerFactory } from './brokers/registry.js';
export { registerBackendDriver, type BackendFactory } from './backends/registry.js';
export type { Serializer } from './protocol/serializers/index.js';
/** JSON text as Celeriac's `json` serializer writes it: a BigInt as its exact digits (JSON.stringify throws). */
export { encodeJson } from './protocol/serializers/json.js';
export { publishEach } from './brokers/broker.js';
export type {
  Broker,
  BrokerCapabilities,
  BrokerContext,
  ConsumeOptions,
  Consumer,
  Deferral,
  Delivery,
  DeliveryHandler,
  ExchangeSpec,
  ExchangeType,
  PublishItem,
  PublishOptions,
  QueueSpec,
  RejectOptions,
  Route,
  Subscription,
  SubscriptionHandler,
  SubscriptionMessage,
  Subscriptions,
  SubscriptionSpec,
} from './brokers/broker.js';
export type {
  ResultBackend,
  BackendCapabilities,
  BackendContext,
  GroupMeta,
  ChordCounter,
  ChordPart,
  ChordProgress,
  StoreContext,
} from './backends/backend.js';
export type { SignatureDict, Embed, WireMessage } from './protocol/message.js';
export { exceptionFromMeta } from './protocol/exception.js';
export {
  createLogger,
  parseLogLevel,
  logFileDestination,
  type Logger,
  type LogLevel,
  type LogFormat,
} from './lifecycle/logger.js';

// For command-line tools and process managers: what the `celeriac` CLI (src/cli, which imports nothing else)
// and tools like it need, with Celery's meaning (`celery/utils/nodenames.py`, `celery/platforms.py`).
export { maskUrl } from './lifecycle/url.js';
export { EX_CANTCREAT, Pidfile, PidfileLocked, createPidlock, isAlive } from './lifecycle/pidfile.js';
export { expandNodename, hostFormat, nodeFormat, nodesplit } from './worker/nodename.js';
export { loadAppModule, importModules, INCLUDE_ENV } from './worker/app-module.js';
export {
  States,
  READY_STATES,
  EXCEPTION_STATES,
  PROPAGATE_STATES,
  type TaskState,
  type ResultMeta,
  type JsonValue,
} from './types.js';
export {
  CeleriacError,
  ImproperlyConfigured,
  NotRegistered,
  TimeoutError,
  Retry,
  Reject,
  Ignore,
  MaxRetriesExceededError,
  TaskRevokedError,
  ChordError,
  InvalidTaskError,
  ContentDisallowed,
  EncodeError,
  DecodeError,
  SoftTimeLimitExceeded,
  TimeLimitExceeded,
  WorkerLostError,
  ConnectionError,
  RemoteTaskError,
  SecurityError,
  isCeleriacError,
  type RetrySignature,
} from './errors.js';
