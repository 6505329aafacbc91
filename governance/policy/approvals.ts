/**
 * Which approvals count. The gateway has already checked each one's WebAuthn
 * assertion against the plan's hash; here the policy checks the rest: each
 * person counts once, the person who asked for the plan cannot approve it, and
 * an approval is good for `approvalTtlS` only, so one given long ago does not
 * carry a plan that has waited since.
 */
import type { Policy } from './policy-schema.ts';

/** One person's approval of one plan. */
export interface Approval {
  /** Who approved (the identity the gateway authenticated). */
  readonly approver: string;
  /** When they approved (Unix epoch ms). */
  readonly atMs: number;
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
