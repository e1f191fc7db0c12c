/**
 * V8's heap growth for a process that is a dashboard. By default V8 lets the heap grow to a few times what is live
 * while events pour in (measured: 230 MB of heap for 83 MB live after 300,000 events, 312 MB RSS); growing it by
 * half at a time instead keeps 100,000 tasks near 250 MB RSS for a few percent more garbage-collection time
 * (bench/dashboard.ts). `celeriac dashboard` calls this first thing; a program that embeds `createDashboard` in a
 * process of its own may call it too. It changes a process-wide V8 setting, so a library does not call it for you.
 */
import { setFlagsFromString } from 'node:v8';

export const DASHBOARD_HEAP_FLAGS = '--heap-growing-percent=50';

export function tuneHeapForDashboard(): void {
  setFlagsFromString(DASHBOARD_HEAP_FLAGS);
}
