/**
 * The governor's policy engine: the one place that decides whether a
 * remediation plan may run. Pure apart from `loadPolicy`. This file lists
 * everything other parts may use.
 */
export { validApprovals } from './approvals.ts';
export { breakerStatus, halfOpenAtMs } from './circuit-breaker.ts';
export { PolicyError, PolicyErrorCode } from './errors.ts';
export { approvalsFor, approvalsLacking, effectiveTier, evaluate } from './evaluate.ts';
export { activeFreezes, isFreezeActive } from './freeze-window.ts';
export { defaultPolicy, loadPolicy } from './load-policy.ts';
export { MIN_APPROVALS, parsePolicy, PolicySchema, RISK_TIERS } from './policy-schema.ts';
export { emptyPolicyState, MAX_EXECUTIONS, policyHorizonMs, prune } from './policy-state.ts';
export { recordApproval, recordExecution, replicasOf } from './record-execution.ts';
export { isTimeZone, wallClock, WEEKDAYS, zonedTimeToUtc } from './time-zone.ts';

export type { Approval, ApprovalProof } from './approvals.ts';
export type { BreakerStatus } from './circuit-breaker.ts';
export type { PolicyIssue } from './errors.ts';
export type {
  ApprovedDecision,
  Decision,
  DecisionOutcome,
  DryRunDecision,
  EvaluatedPlan,
  EvaluationContext,
  NeedsApprovalDecision,
  RejectedDecision,
  ShadowDecision,
  Verdict,
} from './evaluate.ts';
export type { FreezeWindow, Policy, PolicyInput, PolicyMode } from './policy-schema.ts';
export type { BreakerState, ExecutionOutcome, ExecutionRecord, PolicyState } from './policy-state.ts';
export type { RecordOptions } from './record-execution.ts';
export type { WallClock, Weekday } from './time-zone.ts';
