/**
 * Which approvals count. Each one's WebAuthn evidence has already been
 * verified against the credential registry by the consumer that received it
 * (see `governance/approval/verify-approval.ts`); here the policy checks the rest: each
 * person counts once, the person who asked for the plan cannot approve it, and
 * an approval is good for `approvalTtlS` only, so one given long ago does not
 * carry a plan that has waited since.
 */
import type { EventData } from '../../choreography/index.ts';
import type { Policy } from './policy-schema.ts';

/** What proves an approval: the credential and the WebAuthn assertion, carried on so each consumer verifies it. */
export interface ApprovalProof {
  readonly credentialId: string;
  readonly evidence: NonNullable<EventData<'sentinel.approval.granted.v1'>['evidence']>;
}

/** One person's approval of one plan. */
export interface Approval {
  /** Who approved (the identity the gateway authenticated). */
  readonly approver: string;
  /** When they approved (Unix epoch ms). */
  readonly atMs: number;
  /** Its proof, passed on to `plan.approved` for the executor to verify again. */
  readonly proof?: ApprovalProof;
}

/**
 * The approvals that count at `nowMs`: not from `requestedBy`, not from the
 * future, younger than `approvalTtlS`, and the first of each approver only.
 */
export function validApprovals(
  policy: Pick<Policy, 'approvalTtlS'>,
  approvals: readonly Approval[],
  nowMs: number,
  requestedBy?: string,
): Approval[] {
  const seen = new Set<string>();
  const valid: Approval[] = [];
  for (const a of approvals) {
    if (a.approver === '' || a.approver === requestedBy || seen.has(a.approver)) continue;
    if (!(a.atMs <= nowMs && nowMs - a.atMs < policy.approvalTtlS * 1000)) continue;
    seen.add(a.approver);
    valid.push(a);
  }
  return valid;
}
