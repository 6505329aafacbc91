/**
 * Feeding executions back into the policy state: what cooldowns, rate limits,
 * the blast radius and the circuit breaker count.
 */
import type { PlanData } from '../../choreography/index.ts';
import { nextBreaker } from './circuit-breaker.ts';
import type { Policy } from './policy-schema.ts';
import { prune } from './policy-state.ts';
import type { ExecutionOutcome, ExecutionRecord, PolicyState } from './policy-state.ts';

/** Actions that touch no replica (a person is paged): they do not use the blast-radius budget. */
const TOUCHES_NOTHING: ReadonlySet<string> = new Set(['escalate']);

/**
 * How many replicas a plan touches: its `replicas` parameter when that is a
 * number (or numeric string), rounded up and taken as a size (a scale-in by
 * -2 touches 2), at least 1; otherwise 1. An `escalate` touches none.
 */
export function replicasOf(plan: Pick<PlanData, 'action' | 'parameters'>): number {
  if (TOUCHES_NOTHING.has(plan.action)) return 0;
  const raw = plan.parameters.replicas;
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  return Number.isFinite(n) ? Math.max(1, Math.ceil(Math.abs(n))) : 1;
}

/** Options of {@link recordApproval} and {@link recordExecution}. */
export interface RecordOptions {
  /**
   * Whether the plan runs without a person's approval. Only automatic
   * executions count for rate limits and the circuit breaker. Taken from the
   * first record of a plan; later ones keep it.
   * @default true
   */
  readonly automatic?: boolean;
}

type RecordedPlan = Pick<PlanData, 'planId' | 'action' | 'target' | 'parameters'>;

function insert(state: PolicyState, record: ExecutionRecord): ExecutionRecord[] {
  // Kept oldest first even if a late report carries an earlier time.
  let at = state.executions.length;
  while (at > 0 && (state.executions[at - 1]?.atMs ?? 0) > record.atMs) at--;
  return state.executions.toSpliced(at, 0, record);
}

function newRecord(
  plan: RecordedPlan,
  outcome: ExecutionRecord['outcome'],
  nowMs: number,
  options: RecordOptions,
): ExecutionRecord {
  return {
    planId: plan.planId,
    action: plan.action,
    service: plan.target.service,
    replicas: replicasOf(plan),
    atMs: nowMs,
    outcome,
    automatic: options.automatic ?? true,
  };
}

/**
 * The state after `plan` was approved to run at `nowMs` (automatically, or by
 * people with `automatic: false`). From now on it counts for cooldowns, rate
 * limits and the blast radius, so a second plan decided before this one's
 * outcome is known cannot slip past them; its outcome follows with
 * {@link recordExecution}. Idempotent: a plan already recorded is left as it is.
 */
export function recordApproval(
  policy: Policy,
  state: PolicyState,
  plan: RecordedPlan,
  nowMs: number,
  options: RecordOptions = {},
): PolicyState {
  if (state.executions.some((e) => e.planId === plan.planId)) return state;
  return prune(
    policy,
    { ...state, executions: insert(state, newRecord(plan, 'pending', nowMs, options)) },
    nowMs,
  );
}

/**
 * The state after `plan` was executed with `outcome`, reported at `nowMs`.
 * A plan recorded by {@link recordApproval} keeps its approval time; one not
 * recorded before is recorded at `nowMs`. Idempotent: the same outcome again
 * changes nothing; a new outcome (a success later rolled back) replaces the
 * old one. Automatic outcomes move the circuit breaker. The result is pruned,
 * so the state stays bounded.
 */
export function recordExecution(
  policy: Policy,
  state: PolicyState,
  plan: RecordedPlan,
  outcome: ExecutionOutcome,
  nowMs: number,
  options: RecordOptions = {},
): PolicyState {
  const index = state.executions.findIndex((e) => e.planId === plan.planId);
  const known = state.executions[index];
  if (known?.outcome === outcome) return state;
  const record: ExecutionRecord =
    known === undefined ? newRecord(plan, outcome, nowMs, options) : { ...known, outcome };
  const executions = known === undefined ? insert(state, record) : state.executions.with(index, record);
  const changed = known !== undefined && known.outcome !== 'pending';
  const breaker = nextBreaker(policy, state.breaker, executions, record, nowMs, changed);
  return prune(policy, { executions, breaker }, nowMs);
}
