/**
 * Errors of the executor part. Each carries a stable `code` to match on and
 * says whether doing the same thing again can help: a driver that could not
 * reach its target is worth a retry with the same idempotency key; an action
 * the target refuses, or one the driver cannot do at all, is not.
 */

/** Every {@link DriverError} code, as a value so it can be listed and matched. */
export const DriverErrorCode = {
  /** The driver cannot do this action at all (e.g. clear_disk on Kubernetes). */
  UNSUPPORTED: 'executor.unsupported_action',
  /** The action cannot be undone (restart, clear_disk, escalate). */
  NOT_REVERSIBLE: 'executor.not_reversible',
  /** The service, deployment or replica does not exist. */
  TARGET_NOT_FOUND: 'executor.target_not_found',
  /** The target refused the action as it stands (no earlier version, scale limit, bad parameter). */
  REFUSED: 'executor.refused',
  /** The idempotency key was used before for a different action. */
  KEY_CONFLICT: 'executor.idempotency_conflict',
  /** A newer leader has acted on the target; this one's fence is stale. */
  FENCED: 'executor.fenced',
  /** The target changed between read and write; reading again and retrying can help. */
  CONCURRENT_CHANGE: 'executor.concurrent_change',
  /** The driver's credentials were refused. */
  UNAUTHORIZED: 'executor.unauthorized',
  /** The target could not be reached or failed on its side. */
  UNAVAILABLE: 'executor.unavailable',
} as const;
/** A {@link DriverError}'s code. */
export type DriverErrorCode = (typeof DriverErrorCode)[keyof typeof DriverErrorCode];

const RETRYABLE: ReadonlySet<DriverErrorCode> = new Set([
  DriverErrorCode.CONCURRENT_CHANGE,
  DriverErrorCode.UNAVAILABLE,
]);

/** A driver failure. `retryable` follows from the code. */
export class DriverError extends Error {
  readonly code: DriverErrorCode;
  readonly retryable: boolean;
  /** The driver that failed. */
  readonly driver: string;

  constructor(driver: string, code: DriverErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DriverError';
    this.driver = driver;
    this.code = code;
    this.retryable = RETRYABLE.has(code);
  }
}
