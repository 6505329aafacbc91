/**
 * The approval a person is asked for, as the event stream tells it: the plan
 * the planner (or a person, through the API) proposed, the governor's latest
 * request for approvals of it, the approvals already granted for that exact
 * plan, and whether the governor has already settled it. Nothing here is
 * trusted from the caller: the plan's hash is recomputed from the proposed
 * plan and must equal the hash the governor asked about.
 */
import { readEvents } from '../../choreography/index.ts';
import type { Bus, EventData, PlanData, SentinelEvent } from '../../choreography/index.ts';
import { planHash } from '../../governance/index.ts';
import { HttpProblem } from '../context.ts';
import { APPROVAL_WINDOW_MS } from '../queries.ts';

/** A plan waiting for approvals, with what is known about it. */
export interface PendingApproval {
  readonly plan: PlanData;
  /** Recomputed from `plan`; equal to the request's hash. */
  readonly planHash: string;
  /** Who asked for the plan: the proposal's `requestedBy`, or the agent that published it. */
  readonly requestedBy: string;
  readonly approvalsNeeded: number;
  /** When the governor stops waiting (ISO 8601). */
  readonly expiresAt: string;
  /** Approvers who already approved this plan (by this hash), in order. */
  readonly approvers: readonly string[];
  /** The proposal's reasons, for the person to read. */
  readonly reasons: readonly string[];
}

const isPlan =
  (planId: string) =>
  (e: SentinelEvent): boolean =>
    (e.data as { planId?: string; plan?: { planId?: string } }).planId === planId ||
    (e.data as { plan?: { planId?: string } }).plan?.planId === planId;

/**
 * The pending approval of `planId` at `nowMs`. Refuses with a problem when
 * there is none (404), the plan was settled or changed since the request
 * (409), or the request has expired (409, `approval_expired`).
 */
export async function pendingApproval(bus: Bus, planId: string, nowMs: number): Promise<PendingApproval> {
  // Every challenge and grant reads this: only the window a request can still be pending in, never the whole stream.
  const sinceMs = nowMs - APPROVAL_WINDOW_MS;
  const [plans, approvals] = await Promise.all([
    readEvents(bus, { stream: 'events', filter: 'plan.*', sinceMs, where: isPlan(planId) }),
    readEvents(bus, { stream: 'events', filter: 'approval.*', sinceMs, where: isPlan(planId) }),
  ]);
  const proposal = plans.findLast((e) => e.type === 'sentinel.plan.proposed.v1') as
    SentinelEvent<'sentinel.plan.proposed.v1'> | undefined;
  const request = approvals.findLast((e) => e.type === 'sentinel.approval.requested.v1') as
    SentinelEvent<'sentinel.approval.requested.v1'> | undefined;
  if (proposal === undefined || request === undefined)
    throw new HttpProblem(404, 'approval_not_found', `no approval is requested for plan ${planId}`);
  const plan = proposal.data.plan;
  const hash = planHash(plan);
  if (hash !== request.data.planHash)
    throw new HttpProblem(
      409,
      'plan_changed',
      'the proposed plan no longer matches the plan the approval was requested for',
    );
  if (plans.some((e) => e.type === 'sentinel.plan.approved.v1' || e.type === 'sentinel.plan.rejected.v1'))
    throw new HttpProblem(409, 'approval_closed', `plan ${planId} is already approved or rejected`);
  if (Date.parse(request.data.expiresAt) <= nowMs)
    throw new HttpProblem(409, 'approval_expired', `the approval request for plan ${planId} has expired`);
  const approvers: string[] = [];
  for (const e of approvals) {
    if (e.type !== 'sentinel.approval.granted.v1') continue;
    const d = e.data as EventData<'sentinel.approval.granted.v1'>;
    if (d.planHash === hash && !approvers.includes(d.approver)) approvers.push(d.approver);
  }
  return {
    plan,
    planHash: hash,
    requestedBy: proposal.data.requestedBy ?? proposal.agent,
    approvalsNeeded: request.data.approvalsNeeded,
    expiresAt: request.data.expiresAt,
    approvers,
    reasons: proposal.data.reasons,
  };
}

/**
 * Refuses `approver` when they asked for the plan, already approved it, or
 * the plan has all the approvals it needs.
 */
export function checkApprover(p: PendingApproval, approver: string): void {
  if (approver === p.requestedBy)
    throw new HttpProblem(
      403,
      'requester_cannot_approve',
      'the person who asked for a plan cannot approve it',
    );
  if (p.approvers.includes(approver))
    throw new HttpProblem(
      409,
      'already_approved',
      p.approvalsNeeded > 1
        ? 'you already approved this plan; a critical plan needs its second approval from another person'
        : 'you already approved this plan',
    );
  if (p.approvers.length >= p.approvalsNeeded)
    throw new HttpProblem(409, 'approval_complete', 'this plan already has every approval it needs');
}
