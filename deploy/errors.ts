/**
 * Failures of the local stack. Each carries a stable `code` that callers and
 * tests match on, and says whether trying again can help: a port held by a
 * stranger stays taken until a person acts, a server that is still warming up
 * may answer on the next attempt.
 */

/** Every {@link StackError} code, as a value so it can be listed and matched. */
export const StackErrorCode = {
  /** The server's package is missing and may not be installed by us. */
  PACKAGE_MISSING: 'STACK_PACKAGE_MISSING',
  /** `apt-get` ran and failed. */
  INSTALL_FAILED: 'STACK_INSTALL_FAILED',
  /** A port we must listen on is held by a process we did not start. */
  PORT_TAKEN: 'STACK_PORT_TAKEN',
  /** A URL we are asked to serve cannot be served on loopback. */
  BAD_URL: 'STACK_BAD_URL',
  /** Preparing the data directory (initdb, config file, ownership) failed. */
  PREPARE_FAILED: 'STACK_PREPARE_FAILED',
  /** The process could not be spawned at all. */
  SPAWN_FAILED: 'STACK_SPAWN_FAILED',
  /** The process exited before it answered. */
  SERVER_EXITED: 'STACK_SERVER_EXITED',
  /** The process stays alive but does not answer within the deadline. */
  START_TIMEOUT: 'STACK_START_TIMEOUT',
  /** The server answered but its one-time setup (roles, databases) failed. */
  BOOTSTRAP_FAILED: 'STACK_BOOTSTRAP_FAILED',
  /** A process ignored SIGKILL's deadline (uninterruptible I/O, most likely). */
  STOP_FAILED: 'STACK_STOP_FAILED',
  /** Several servers failed at once; `cause` is an AggregateError of them. */
  SEVERAL_FAILED: 'STACK_SEVERAL_FAILED',
} as const;

/** A {@link StackError}'s code. */
export type StackErrorCode = (typeof StackErrorCode)[keyof typeof StackErrorCode];

/** Options of a {@link StackError}. */
export interface StackErrorOptions extends ErrorOptions {
  /** Whether running the same step again may succeed. @default false */
  readonly retryable?: boolean;
}

/** Raised when the local stack cannot be installed, started, probed or stopped. */
export class StackError extends Error {
  readonly code: StackErrorCode;
  readonly retryable: boolean;

  constructor(code: StackErrorCode, message: string, options: StackErrorOptions = {}) {
    super(message, options);
    this.name = 'StackError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}
