/**
 * Errors of the MCP server. A tool that refuses a call throws a
 * {@link ToolRefusal}; the server turns it into an MCP tool error (a result
 * with `isError: true`) whose text is the refusal's message, so the calling
 * model reads why and the session goes on. Anything else a tool throws is a
 * fault of ours: it is logged with its cause and the caller sees only a
 * generic message with the request id.
 */

/** Every {@link ToolRefusal} code, as a value so it can be listed and matched. */
export const McpErrorCode = {
  /** The caller's token lacks the scope the tool needs. */
  INSUFFICIENT_SCOPE: 'mcp.insufficient_scope',
  /** No incident with that id (in the window the server reads). */
  INCIDENT_NOT_FOUND: 'mcp.incident_not_found',
  /** The target is not a service of the incident, or the incident is closed. */
  TARGET_REFUSED: 'mcp.target_refused',
  /** The action or its parameters do not fit the runbook catalogue. */
  ACTION_REFUSED: 'mcp.action_refused',
} as const;
/** A {@link ToolRefusal}'s code. */
export type McpErrorCode = (typeof McpErrorCode)[keyof typeof McpErrorCode];

/**
 * A tool call refused for a reason the caller can act on. Its message is shown
 * to the caller as is, so it never carries a secret or an internal detail;
 * calling again unchanged cannot help.
 */
export class ToolRefusal extends Error {
  readonly code: McpErrorCode;
  readonly retryable = false;

  constructor(code: McpErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ToolRefusal';
    this.code = code;
  }
}
