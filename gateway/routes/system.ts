/**
 * The routes that say whether the gateway works and how to talk to it:
 * liveness, readiness of its dependencies, Prometheus metrics, the JWKS that
 * verifies its tokens, and the OpenAPI document.
 */
import type { Hono } from 'hono';
import { HttpProblem, requireScope } from '../context.ts';
import type { GatewayEnv } from '../context.ts';
import type { GatewayDeps } from '../deps.ts';
import { openApiDocument } from '../openapi.ts';
import type { OpenApiPaths } from '../openapi.ts';

/** How long one readiness probe may take before its dependency counts as down, in ms. */
const PROBE_TIMEOUT_MS = 2000;

async function probe(run: () => Promise<void>): Promise<'ok' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('probe timed out')), PROBE_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch {
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}

/** `/healthz`, `/readyz`, `/metrics`, `/.well-known/jwks.json`, `/v1/openapi.json`. */
export function systemRoutes(app: Hono<GatewayEnv>, deps: GatewayDeps, mounted: OpenApiPaths = {}): void {
  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    const names = Object.keys(deps.probes);
    const results = await Promise.all(names.map((n) => probe(deps.probes[n] ?? (() => Promise.resolve()))));
    const checks = Object.fromEntries(names.map((n, i) => [n, results[i]]));
    if (results.some((r) => r !== 'ok'))
      throw new HttpProblem(
        503,
        'not_ready',
        `unreachable: ${names.filter((_, i) => results[i] !== 'ok').join(', ')}`,
        {
          extensions: { checks },
          headers: { 'Retry-After': '1' },
        },
      );
    return c.json({ status: 'ready', checks });
  });

  // Metrics need a token with `metrics:read` (every viewer holds it; give
  // Prometheus a viewer's or a service token): the counters name routes and
  // refusal codes, which is reconnaissance for an attacker.
  app.get('/metrics', async (c) => {
    requireScope(c, 'metrics:read');
    return c.body(await deps.metrics.metrics(), 200, { 'Content-Type': deps.metrics.contentType });
  });

  app.get('/.well-known/jwks.json', async (c) => {
    const jwks = await deps.tokens.jwks();
    return c.json(jwks, 200, { 'Cache-Control': 'public, max-age=60' });
  });

  app.get('/v1/openapi.json', (c) => c.json(openApiDocument(deps.config.gateway.origin, mounted)));
}
