import { test } from 'node:test';
import { Hono } from 'hono';
import { Registry } from 'prom-client';
import assert from 'node:assert/strict';
import { createLogger, loadConfigWith } from '../../config/index.ts';
import { createGateway, openApiDocument, ROUTES } from '../../gateway/index.ts';
import type { GatewayDeps, GatewayEnv } from '../../gateway/index.ts';

/** Only the route table is read: no request reaches these deps. */
const deps = {
  config: loadConfigWith({}),
  log: createLogger('silent'),
  metrics: new Registry(),
} as unknown as GatewayDeps;

function servedRoutes(): string[] {
  const app = createGateway(deps);
  const served = app.routes
    .filter((r) => r.method !== 'ALL')
    .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`);
  return [...new Set(served)].sort();
}

type Doc = {
  openapi: string;
  paths: Record<
    string,
    Record<string, { security: Record<string, string[]>[]; responses: Record<string, unknown> }>
  >;
};

test('gateway - every route the app serves is in the OpenAPI document, and nothing else', () => {
  const doc = openApiDocument('http://localhost:18080') as Doc;
  const documented = Object.entries(doc.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
  assert.deepEqual(documented, servedRoutes());
});

test('gateway - the OpenAPI document is 3.1 and names each protected route’s scope', () => {
  const doc = openApiDocument('http://localhost:18080') as Doc;
  assert.equal(doc.openapi, '3.1.0');
  for (const r of ROUTES) {
    const op = doc.paths[r.path]?.[r.method];
    assert.ok(op, `${r.method} ${r.path}`);
    if (r.scope !== undefined && r.scope !== 'authenticated')
      assert.deepEqual(op.security, [{ bearer: [r.scope] }], `${r.method} ${r.path}`);
    if (r.scope === undefined && r.bootstrap === undefined)
      assert.deepEqual(op.security, [], `${r.path} is public`);
    assert.ok(op.responses['400'] && op.responses['500'], 'problem responses are documented');
    if (r.scope !== undefined) assert.ok(op.responses['401'], `${r.method} ${r.path} documents its 401`);
  }
});

test('gateway - the OpenAPI document has no dangling schema reference', () => {
  const doc = openApiDocument('http://localhost:18080') as Doc & {
    components: { schemas: Record<string, unknown> };
  };
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(
    (m) => m[1],
  );
  assert.ok(refs.length > 0);
  for (const r of refs) assert.ok(r !== undefined && r in doc.components.schemas, `missing ${r}`);
});

test('gateway - a mounted sub-app is served behind the gateway and documented where it is mounted', async () => {
  const sub = new Hono<GatewayEnv>().get('/', (c) => c.json({ principal: c.get('principal') ?? null }));
  const app = createGateway(deps, {
    mounts: [{ path: '/v1/stream', app: sub, openapi: { '/': { get: { summary: 'live events' } } } }],
  });
  const res = await app.request('/v1/stream');
  assert.equal(res.status, 200);
  assert.ok(res.headers.get('x-request-id'), 'the gateway middleware ran');
  assert.match(res.headers.get('content-security-policy') ?? '', /default-src/);
  const doc = (await (await app.request('/v1/openapi.json')).json()) as Doc;
  assert.deepEqual(doc.paths['/v1/stream'], { get: { summary: 'live events' } });
});
