/**
 * How every tool answers: JSON text (one content block, which any MCP client
 * shows and any model reads), a refusal as an MCP tool error with a message
 * the caller can act on, and a fault of ours as a tool error that names the
 * request id and nothing else. Outputs are bounded: a tool shapes its answer
 * to fit, and one that still does not fit is refused rather than cut mid-JSON.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../../config/index.ts';
import type { Principal } from '../context.ts';
import { McpErrorCode, ToolRefusal } from './errors.ts';

/** Longest tool output, in characters of JSON text. */
export const MAX_OUTPUT_CHARS = 256 * 1024;

/** What a tool call knows about its caller and its request. */
export interface ToolCallContext {
  readonly principal: Principal;
  readonly requestId: string;
  readonly log: Logger;
  /** Records a call refused for want of a scope in the security log. @default not recorded */
  readonly recordRefusal?: (detail: string) => Promise<void>;
}

/** `value` as a tool result: compact JSON text. */
export function jsonResult(value: unknown): CallToolResult {
  const text = JSON.stringify(value);
  if (text.length > MAX_OUTPUT_CHARS)
    return errorResult(
      `the answer is larger than ${MAX_OUTPUT_CHARS} characters: narrow the request (a shorter window, one metric, a lower limit)`,
    );
  return { content: [{ type: 'text', text }] };
}

/** A tool error the caller sees as `message`. */
export function errorResult(message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true };
}

/** Refuses the call unless the caller's token carries `scope`. */
export function requireToolScope(principal: Principal, scope: string): void {
  if (!principal.scopes.has(scope))
    throw new ToolRefusal(McpErrorCode.INSUFFICIENT_SCOPE, `this tool needs the scope ${scope}`);
}

/**
 * Runs one tool call: checks `scope`, then `body`; a {@link ToolRefusal}
 * becomes a tool error with its message, anything else is logged with its
 * cause and shown only as a failure with the request id.
 */
export async function runTool(
  ctx: ToolCallContext,
  tool: string,
  scope: string,
  body: () => Promise<unknown>,
): Promise<CallToolResult> {
  try {
    requireToolScope(ctx.principal, scope);
    return jsonResult(await body());
  } catch (err) {
    if (err instanceof ToolRefusal) {
      ctx.log.info(
        { tool, code: err.code, principal: ctx.principal.subject, requestId: ctx.requestId },
        'mcp tool call refused',
      );
      // A missing scope is a refusal of the caller's grant, as a 403 is: it leaves a security record.
      if (err.code === McpErrorCode.INSUFFICIENT_SCOPE)
        await ctx
          .recordRefusal?.(`mcp tool ${tool}: ${err.message}`)
          .catch((e: unknown) =>
            ctx.log.error({ err: e, requestId: ctx.requestId }, 'could not record a refused tool call'),
          );
      return errorResult(err.message);
    }
    ctx.log.error(
      { err, tool, principal: ctx.principal.subject, requestId: ctx.requestId },
      'mcp tool call failed',
    );
    return errorResult(`${tool} failed on the server (request ${ctx.requestId}); try again later`);
  }
}
