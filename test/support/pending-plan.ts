/**
 * A plan waiting for approval, as the planner and the governor would leave
 * it in the events stream, for the approval tests.
 */
import { createEvent } from '../../choreography/index.ts';
import type { PlanData, RiskTier } from '../../choreography/index.ts';
import { planHash } from '../../governance/index.ts';
import type { TestEnv } from './harness.ts';

/**
 * Publishes what the planner and the governor would: `plan.proposed`
 * (with `requestedBy` when a person asked) and `approval.requested` (unless
 * a real governor is `governed` to do it).
 */
export async function publishPendingPlan(
  env: TestEnv,
  o: {
    planId: string;
    riskTier?: RiskTier;
    approvalsNeeded?: number;
    requestedBy?: string;
    expiresInMs?: number;
    service?: string;
    action?: PlanData['action'];
    /** Publish only the proposal: a running governor asks for the approvals. @default false */
    governed?: boolean;
  },
): Promise<PlanData> {
  const expiresAt = new Date(Date.now() + (o.expiresInMs ?? 3_600_000)).toISOString();
  const incidentId = `inc-${o.planId}`;
  const plan: PlanData = {
    planId: o.planId,
    incidentId,
    environment: 'test',
    action: o.action ?? 'restart',
    target: { service: o.service ?? 'checkout', kind: 'deployment', name: o.service ?? 'checkout' },
    parameters: { replicas: 3 },
    riskTier: o.riskTier ?? 'high',
    expiresAt,
  };
  const proposed = createEvent(
    'sentinel.plan.proposed.v1',
    {
      plan,
      reasons: ['checkout error rate above 5% since the last deploy'],
      ...(o.requestedBy === undefined ? {} : { requestedBy: o.requestedBy }),
    },
    { role: 'planner', instance: 'test' },
    { correlationid: incidentId, subject: incidentId },
  );
  await env.publisher.publish(proposed);
  if (o.governed === true) return plan;
  await env.publisher.publish(
    createEvent(
      'sentinel.approval.requested.v1',
      {
        planId: plan.planId,
        incidentId,
        environment: plan.environment,
        planHash: planHash(plan),
        approvalsNeeded: o.approvalsNeeded ?? (plan.riskTier === 'critical' ? 2 : 1),
        expiresAt,
      },
      { role: 'governor', instance: 'test' },
      { cause: proposed },
    ),
  );
  return plan;
}
