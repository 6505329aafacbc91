/**
 * What the policy remembers between decisions: the recent executions (for
 * cooldowns, rate limits and the blast radius) and the circuit breaker. It is
 * a plain JSON-serialisable value, kept in the governor machine's context and
 * snapshotted with it; every function here returns a new value.
 */
import type { ActionName } from '../../choreography/index.ts';
import type { Policy } from './policy-schema.ts';

/** How an executed action ended. A rolled-back action counts as a failure. */
export type ExecutionOutcome = 'succeeded' | 'failed' | 'rolled_back';

/** One plan approved to run, and how it ended once known. */
export interface ExecutionRecord {
  readonly planId: string;
  readonly action: ActionName;
  readonly service: string;
  /** Replicas it touched (see {@link replicasOf}); 0 for an action that touches none. */
  readonly replicas: number;
  /** When it was approved, or reported when it was not recorded at approval (Unix epoch ms, the caller's clock). */
  readonly atMs: number;
  /** `pending` from its approval until its outcome is reported. */
  readonly outcome: ExecutionOutcome | 'pending';
  /** Whether it ran without a person's approval; only those feed rate limits and the circuit breaker. */
  readonly automatic: boolean;
}

/**
 * The circuit breaker. Closed: automatic approval works; only automatic
 * outcomes since `sinceMs` are judged. Open: every plan needs a person, until
 * `openS` after `openedAtMs`, when it is half-open (derived, never stored):
 * the next automatic outcome closes it (success) or opens it again (failure).
 */
export type BreakerState =
  | {
      readonly status: 'closed';
      readonly sinceMs: number;
      /** The half-open trial that closed it: rolled back later, it opens the breaker again. */
      readonly trialPlanId?: string;
    }
  | { readonly status: 'open'; readonly openedAtMs: number };

export interface PolicyState {
  /** Oldest first. Bounded by {@link prune}. */
  readonly executions: readonly ExecutionRecord[];
  readonly breaker: BreakerState;
}

/** Never keep more executions than this, whatever the windows; every limit saturates well below it. */
export const MAX_EXECUTIONS = 10_000;

/** The state of a governor that has executed nothing yet. */
export function emptyPolicyState(): PolicyState {
  return { executions: [], breaker: { status: 'closed', sinceMs: 0 } };
}

/**
 * The longest look-back any rule of `policy` needs, in ms: older executions
 * can never change a decision.
 */
export function policyHorizonMs(policy: Policy): number {
  const spans = [
    ...Object.values(policy.tiers).map((t) => t.cooldownS),
    ...policy.cooldowns.map((c) => c.seconds),
    policy.rateLimits.global?.windowS ?? 0,
    policy.rateLimits.perService?.windowS ?? 0,
    policy.blastRadius?.windowS ?? 0,
    policy.circuitBreaker?.windowS ?? 0,
  ];
  return Math.max(0, ...spans) * 1000;
}

/**
 * Drop executions no rule of `policy` can see any more at `nowMs` (and the
 * oldest beyond {@link MAX_EXECUTIONS}). Returns `state` itself when nothing
 * was dropped.
 */
export function prune(policy: Policy, state: PolicyState, nowMs: number): PolicyState {
  const since = nowMs - policyHorizonMs(policy);
  let first = state.executions.findIndex((e) => e.atMs > since);
  if (first === -1) first = state.executions.length;
  first = Math.max(first, state.executions.length - MAX_EXECUTIONS);
  return first === 0 ? state : { ...state, executions: state.executions.slice(first) };
}
