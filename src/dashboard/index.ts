/** `celeriac/dashboard`: the web monitor, for embedding in your own process (the CLI's `celeriac dashboard`). */
export { createDashboard, Dashboard, type DashboardOptions } from './server.js';
export { tuneHeapForDashboard, DASHBOARD_HEAP_FLAGS } from './heap.js';
export { parseBasicAuth, isLoopback, type DashboardUser } from './auth.js';
export type { ControlPort, EventsPort, EventReceiverPort, InspectPort, BroadcastOptions } from './ports.js';
export { DashboardMetrics } from './metrics.js';
export { WorkerMetrics } from './worker-metrics.js';
