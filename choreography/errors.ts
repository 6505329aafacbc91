/**
 * Choreography errors. Each has a stable `code` and says whether retrying can
 * help: a consumer dead-letters a message at once when it cannot.
 */
export class ChoreographyError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  constructor(code: string, message: string, options?: ErrorOptions & { retryable?: boolean }) {
    super(message, options);
    this.name = 'ChoreographyError';
    this.code = code;
    this.retryable = options?.retryable ?? false;
  }
}

/** An event that does not match its schema (or the envelope's). Never retryable. */
export class EventValidationError extends ChoreographyError {
  constructor(message: string, options?: ErrorOptions) {
    super('EVENT_INVALID', message, options);
    this.name = 'EventValidationError';
  }
}

/** A handler failure that no retry can mend: the message goes to the dead-letter subject at once. */
export class NonRetryableError extends ChoreographyError {
  constructor(message: string, options?: ErrorOptions) {
    super('HANDLER_NON_RETRYABLE', message, options);
    this.name = 'NonRetryableError';
  }
}

/** A publish that got no acknowledgement after every retry. */
export class PublishError extends ChoreographyError {
  constructor(message: string, options?: ErrorOptions) {
    super('PUBLISH_FAILED', message, { ...options, retryable: true });
    this.name = 'PublishError';
  }
}

/** An action refused because the caller's fencing token is older than the newest seen. */
export class StaleFenceError extends ChoreographyError {
  constructor(message: string, options?: ErrorOptions) {
    super('FENCE_STALE', message, options);
    this.name = 'StaleFenceError';
  }
}

/** The caller tried to act as a leader while it does not hold leadership. */
export class NotLeaderError extends ChoreographyError {
  constructor(message: string, options?: ErrorOptions) {
    super('NOT_LEADER', message, { ...options, retryable: true });
    this.name = 'NotLeaderError';
  }
}
