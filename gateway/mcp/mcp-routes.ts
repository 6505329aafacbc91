/**
 * The MCP endpoint: the Streamable HTTP transport of the Model Context
 * Protocol in stateless mode, on Web-standard Request and Response, so it
 * sits in Hono as it is. Each POST gets a fresh server bound to the caller
 * the gateway's authentication put on the request, answers in JSON and is
 * closed: no session lives in this process, so any gateway replica can
 * answer any call, and a revoked token stops working on the next call.
 * Stateless means no server-initiated stream: GET and DELETE are refused.
 *
 * The body is read here, not by the SDK: its size and nesting are bounded as
 * every gateway body is, and a JSON-RPC batch is refused (the protocol
 * dropped batching in 2025-06-18), so one request is one call and pays one
 * rate-limit token.
 */
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Hono } from 'hono';
import { HttpProblem, principalOf } from '../context.ts';
import { parseJsonText } from '../problem.ts';
import { clientIp } from '../hardening.ts';
import type { GatewayEnv } from '../context.ts';
import type { McpDeps } from './deps.ts';
import { createMcpServer } from './mcp-server.ts';

/** Largest JSON-RPC request body, in bytes (tool arguments are small). */
export const MAX_MCP_BODY_BYTES = 64 * 1024;

/** The MCP sub-app; the gateway mounts it at `/mcp` behind bearer authentication. */
export function mcpRoutes(deps: McpDeps): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();

  app.post('/', async (c) => {
    const principal = principalOf(c);
    const requestId = c.get('requestId');
    const log = deps.log.child({ mcp: true });
    const { securityLog } = deps;
    const server = createMcpServer(deps, {
      principal,
      requestId,
      log,
      ...(securityLog === undefined
        ? {}
        : {
            recordRefusal: (detail: string) =>
              securityLog.record({
                kind: 'denied',
                principal: principal.subject,
                detail,
                ip: clientIp(c),
                requestId,
              }),
          }),
    });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
      maxRequestBodySize: MAX_MCP_BODY_BYTES,
    });
    transport.onerror = (err) => log.debug({ err, requestId }, 'mcp transport refused a request');
    const text = await c.req.text();
    if (Buffer.byteLength(text) > MAX_MCP_BODY_BYTES)
      throw new HttpProblem(413, 'body_too_large', `an MCP request is at most ${MAX_MCP_BODY_BYTES} bytes`);
    const parsedBody = parseJsonText(text);
    if (Array.isArray(parsedBody))
      throw new HttpProblem(
        400,
        'batch_refused',
        'JSON-RPC batches are not accepted: send one request per HTTP request',
      );
    await server.connect(transport);
    try {
      return await transport.handleRequest(c.req.raw, { parsedBody });
    } finally {
      await server.close();
    }
  });

  const notHere = () => {
    throw new HttpProblem(
      405,
      'method_not_allowed',
      'this MCP endpoint is stateless: POST JSON-RPC requests',
      {
        headers: { Allow: 'POST' },
      },
    );
  };
  app.get('/', notHere);
  app.delete('/', notHere);

  return app;
}
