/**
 * Failures of the fleet: a scenario file that does not follow the format, a
 * replica that will not start or answer, a remediation that cannot apply.
 * Each carries a stable `code` that callers and tests match on, and says
 * whether trying again can help.
 */

/** Every {@link FleetError} code, as a value so it can be listed and matched. */
export const FleetErrorCode = {
  /** A scenario file is not JSON or does not follow the format. */
  SCENARIO_INVALID: 'FLEET_SCENARIO_INVALID',
  /** A control request (fault, pool size, upstreams) does not match its schema. */
  CONTROL_INVALID: 'FLEET_CONTROL_INVALID',
  /** A replica process exited, or stayed silent, before it reported its port. */
  REPLICA_START_FAILED: 'FLEET_REPLICA_START_FAILED',
  /** A replica did not accept a control request. */
  REPLICA_UNREACHABLE: 'FLEET_REPLICA_UNREACHABLE',
  /** The named service or replica is not part of the fleet. */
  UNKNOWN_TARGET: 'FLEET_UNKNOWN_TARGET',
  /** A rollback was asked for with no earlier version to go back to. */
  NO_PREVIOUS_VERSION: 'FLEET_NO_PREVIOUS_VERSION',
  /** A scale-in would leave the service with no replica. */
  SCALE_LIMIT: 'FLEET_SCALE_LIMIT',
  /** The fleet has been stopped; nothing more can be done with it. */
  STOPPED: 'FLEET_STOPPED',
} as const;

/** A {@link FleetError}'s code. */
export type FleetErrorCode = (typeof FleetErrorCode)[keyof typeof FleetErrorCode];

/** Options of a {@link FleetError}. */
export interface FleetErrorOptions extends ErrorOptions {
  /** Whether doing the same thing again may succeed. @default false */
  readonly retryable?: boolean;
}

/** Base of every fleet failure. */
export class FleetError extends Error {
  readonly code: FleetErrorCode;
  readonly retryable: boolean;

  constructor(code: FleetErrorCode, message: string, options: FleetErrorOptions = {}) {
    super(message, options);
    this.name = 'FleetError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/**
 * A scenario file refused. `issues` holds one `path: problem` entry per
 * finding, e.g. `faults[0].kind: expected one of cpu_spin|memory_leak|…`.
 */
export class ScenarioError extends FleetError {
  readonly fileName: string;
  readonly issues: readonly string[];

  constructor(fileName: string, issues: readonly string[], options?: ErrorOptions) {
    super(FleetErrorCode.SCENARIO_INVALID, `${fileName}: ${issues.join('; ')}`, options);
    this.name = 'ScenarioError';
    this.fileName = fileName;
    this.issues = issues;
  }
}

/** A replica process that did not come up. Retryable: a fresh process may. */
export class ReplicaStartError extends FleetError {
  constructor(message: string, options?: ErrorOptions) {
    super(FleetErrorCode.REPLICA_START_FAILED, message, { ...options, retryable: true });
    this.name = 'ReplicaStartError';
  }
}
