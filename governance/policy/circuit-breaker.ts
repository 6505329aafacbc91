/**
 * The circuit breaker over automatic actions: when too many of the latest ones
 * failed, automation stops approving itself and a person has to approve every
 * plan, until a cool-off has passed and one automatic trial succeeds.
 */
import type { Policy } from './policy-schema.ts';
import type { BreakerState, ExecutionRecord } from './policy-state.ts';

/** Where the breaker stands at a given moment. */
export type BreakerStatus = 'closed' | 'open' | 'half_open';

/** The breaker's status at `nowMs`; always `closed` when the policy has none. */
export function breakerStatus(policy: Policy, breaker: BreakerState, nowMs: number): BreakerStatus {
  const cb = policy.circuitBreaker;
  if (cb === undefined || breaker.status === 'closed') return 'closed';
  return nowMs >= breaker.openedAtMs + cb.openS * 1000 ? 'half_open' : 'open';
}

/** When an open breaker turns half-open. */
export function halfOpenAtMs(policy: Policy, breaker: BreakerState): number | undefined {
  const cb = policy.circuitBreaker;
  return cb === undefined || breaker.status === 'closed' ? undefined : breaker.openedAtMs + cb.openS * 1000;
}

function failed(e: ExecutionRecord): boolean {
  return e.outcome === 'failed' || e.outcome === 'rolled_back';
}

/**
 * The automatic plan approved as the trial of a half-open breaker whose
 * outcome is not known yet, if any: while it runs no other plan is approved
 * automatically. A trial that never reports stops counting after `openS`.
 */
export function pendingTrial(
  policy: Policy,
  breaker: BreakerState,
  executions: readonly ExecutionRecord[],
  nowMs: number,
): ExecutionRecord | undefined {
  const cb = policy.circuitBreaker;
  const since = halfOpenAtMs(policy, breaker);
  if (cb === undefined || since === undefined || nowMs < since) return undefined;
  return executions.findLast(
    (e) => e.automatic && e.outcome === 'pending' && e.atMs >= since && nowMs - e.atMs < cb.openS * 1000,
  );
}

/**
 * The breaker after the automatic outcome `record` was recorded at `nowMs`;
 * `executions` already holds it. `updated` says it replaced an outcome
 * reported before (a success later rolled back).
 */
export function nextBreaker(
  policy: Policy,
  breaker: BreakerState,
  executions: readonly ExecutionRecord[],
  record: ExecutionRecord,
  nowMs: number,
  updated: boolean,
): BreakerState {
  const cb = policy.circuitBreaker;
  if (cb === undefined || !record.automatic || record.outcome === 'pending') return breaker;
  const status = breakerStatus(policy, breaker, nowMs);
  if (status === 'half_open')
    return failed(record)
      ? { status: 'open', openedAtMs: nowMs }
      : { status: 'closed', sinceMs: nowMs, trialPlanId: record.planId };
  if (breaker.status === 'open') return breaker;
  if (updated && failed(record) && breaker.trialPlanId === record.planId)
    return { status: 'open', openedAtMs: nowMs };
  const windowStart = nowMs - cb.windowS * 1000;
  const recent = executions
    .filter(
      (e) => e.automatic && e.outcome !== 'pending' && e.atMs >= breaker.sinceMs && e.atMs > windowStart,
    )
    .slice(-cb.lastN);
  const failures = recent.filter(failed).length;
  return failures / cb.lastN >= cb.failureShare ? { status: 'open', openedAtMs: nowMs } : breaker;
}
