/**
 * The gateway's MCP server (Model Context Protocol): read tools for outside
 * AI clients (metrics, incidents, root cause, audit trail) and a
 * propose-action tool that submits plans to the governor and can never skip
 * an approval. This file lists what the rest of the gateway may use.
 */
export { McpErrorCode, ToolRefusal } from './errors.ts';
export { MAX_MCP_BODY_BYTES, mcpRoutes } from './mcp-routes.ts';
export { SERVER_INFO, TOOL_SCOPES } from './mcp-server.ts';
export { changeRecordLookup } from './target-facts.ts';

export type { McpDeps, TargetFactsLookup } from './deps.ts';
