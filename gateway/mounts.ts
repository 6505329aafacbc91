/**
 * The gateway's standard sub-apps, made from its own connections: the live
 * stream (`/v1/stream`), passkeys and step-up approvals (`/v1/webauthn/*`,
 * `/v1/approvals/*`), the console (`/console`) and the MCP server (`/mcp`).
 * Each sits behind the app's hardening and authentication and checks its own
 * scopes.
 */
import { loadCatalogue } from '../governance/index.ts';
import type { GatewayMount } from './app.ts';
import type { GatewayDeps } from './deps.ts';
import { mcpRoutes } from './mcp/index.ts';
import { mcpDocs, streamDocs, webauthnDocs } from './mount-docs.ts';
import { streamRoutes } from './stream/index.ts';
import { consoleRoutes, webauthnRoutes } from './webauthn/index.ts';

export async function standardMounts(deps: GatewayDeps): Promise<GatewayMount[]> {
  const { config, bus, pool, publisher, log } = deps;
  return [
    {
      path: '/v1/stream',
      app: streamRoutes({
        bus,
        log,
        ...(deps.sessionEnds === undefined ? {} : { sessionEnds: deps.sessionEnds }),
        sessionActive: (sessionId, username) => deps.accounts.sessionActive(sessionId, username),
      }),
      openapi: streamDocs,
    },
    {
      path: '/v1',
      app: webauthnRoutes({
        pool,
        namespace: config.namespace,
        authority: deps.tokens,
        accounts: deps.accounts,
        securityLog: deps.securityLog,
        publisher,
        bus,
        rpId: new URL(config.gateway.origin).hostname,
        rpName: 'Sentinel',
        origin: config.gateway.origin,
        log,
        identity: deps.identity,
        tokenTtlS: config.gateway.tokenTtlS,
      }),
      openapi: webauthnDocs,
    },
    { path: '/console', app: consoleRoutes() },
    {
      path: '/mcp',
      app: mcpRoutes({
        bus,
        pool,
        namespace: config.namespace,
        publisher,
        catalogue: await loadCatalogue(),
        log,
        identity: deps.identity,
        securityLog: deps.securityLog,
      }),
      openapi: mcpDocs,
    },
  ];
}
