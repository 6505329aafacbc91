/**
 * The remediation actions of the scenario format. All but `escalate` are
 * operations of a running fleet (see `FleetHandle.remediate`); `escalate`
 * pages a person and touches nothing.
 */

/** Every remediation action, in the order the format lists them. */
export const REMEDIATION_ACTIONS = [
  'restart',
  'rollback',
  'scale_out',
  'scale_in',
  'clear_disk',
  'raise_pool',
  'escalate',
] as const;

/** A remediation action. */
export type RemediationAction = (typeof REMEDIATION_ACTIONS)[number];
