/**
 * The gateway's own errors (a route's refusal is an `HttpProblem`, see
 * context.ts). These are failures of the gateway itself: it could not start,
 * or an ingested payload could not be mapped to events.
 */

/** The gateway could not start: a dependency was unreachable or its port taken. */
export class GatewayStartError extends Error {
  readonly code = 'GATEWAY_START_FAILED';
  /** Starting again later can succeed (a dependency may come up). */
  readonly retryable = true;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GatewayStartError';
  }
}

/**
 * An ingested document (OTLP metrics, an Alertmanager webhook) that does not
 * map to Sentinel's events; `path` names the offending field. The message is
 * safe to show the sender.
 */
export class IngestError extends Error {
  readonly code = 'INGEST_INVALID';
  readonly retryable = false;
  readonly path: string;
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(`${path}: ${message}`, options);
    this.name = 'IngestError';
    this.path = path;
  }
}
