/** Exponential backoff with full jitter, used for reconnects and publish retries. */
export interface BackoffPolicy {
  /** First delay in milliseconds. */
  initialMs: number;
  /** Upper bound for any delay in milliseconds. */
  maxMs: number;
  /** Multiplier between attempts. */
  factor: number;
  /** Randomise each delay between half and all of its value. */
  jitter: boolean;
}

export const defaultBackoff: BackoffPolicy = { initialMs: 100, maxMs: 10_000, factor: 2, jitter: true };

/** Delay before retry number `attempt` (0-based). */
export function backoffDelay(
  policy: BackoffPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const raw = Math.min(policy.maxMs, policy.initialMs * policy.factor ** attempt);
  return policy.jitter ? raw / 2 + (random() * raw) / 2 : raw;
}

/**
 * Celery's publish retry policy (`task_publish_retry_policy`): `interval_start + n * interval_step`, capped at
 * `interval_max`, all in seconds, `max_retries` attempts after the first.
 */
export interface RetryPolicy {
  maxRetries: number;
  intervalStart: number;
  intervalStep: number;
  intervalMax: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  maxRetries: 3,
  intervalStart: 0,
  intervalStep: 0.2,
  intervalMax: 1,
};

export function retryPolicyDelayMs(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.intervalMax, policy.intervalStart + attempt * policy.intervalStep) * 1000;
}
