/**
 * Policy errors. A policy that cannot be read or does not validate is never
 * retryable: the file has to be fixed, so the governor refuses to start on it
 * rather than run with a guess.
 */

/** The stable codes a {@link PolicyError} carries. */
export const PolicyErrorCode = {
  /** The file could not be read (missing, no permission). */
  unreadable: 'POLICY_UNREADABLE',
  /** The file is not JSON. */
  notJson: 'POLICY_NOT_JSON',
  /** The JSON does not follow the policy schema; `issues` names each field. */
  invalid: 'POLICY_INVALID',
} as const;
export type PolicyErrorCode = (typeof PolicyErrorCode)[keyof typeof PolicyErrorCode];

/** One schema violation: the dotted field path (`freezeWindows[0].timeZone`) and what is wrong with it. */
export interface PolicyIssue {
  readonly path: string;
  readonly message: string;
}

/** A policy configuration that cannot be used. The message names the file and every bad field. */
export class PolicyError extends Error {
  readonly code: PolicyErrorCode;
  /** Always false: a policy file does not fix itself. */
  readonly retryable = false;
  /** The file (or `<inline>` source) the policy came from. */
  readonly source: string;
  readonly issues: readonly PolicyIssue[];
  constructor(
    code: PolicyErrorCode,
    source: string,
    message: string,
    options?: ErrorOptions & { issues?: readonly PolicyIssue[] },
  ) {
    super(message, options);
    this.name = 'PolicyError';
    this.code = code;
    this.source = source;
    this.issues = options?.issues ?? [];
  }
}
