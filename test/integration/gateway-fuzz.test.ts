import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ROUTES } from '../../gateway/index.ts';
import type { RouteDoc } from '../../gateway/openapi.ts';
import { testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';
import { gatewayFixture } from '../support/gateway-app.ts';
import type { GatewayFixture } from '../support/gateway-app.ts';

let env: TestEnv;
let gw: GatewayFixture;

before(async () => {
  env = await testEnv('gwfuzz');
  gw = await gatewayFixture(env);
});

after(async () => {
  await gw.close();
  await env.close();
});

/** What a request could have changed: the stored events and the accounts. */
async function stored(): Promise<string> {
  const [events, telemetry] = await Promise.all([
    env.bus.jsm.streams.info(env.bus.names.streams.events),
    env.bus.jsm.streams.info(env.bus.names.streams.telemetry),
  ]);
  const { rows } = await env.pool.query<{ n: string; roles: string | null }>(
    `SELECT count(*) AS n, string_agg(username || ':' || role || ':' || disabled, ',' ORDER BY username) AS roles
       FROM ${env.config.namespace}.identity_accounts`,
  );
  return JSON.stringify([events.state.messages, telemetry.state.messages, rows[0]]);
}

const HUGE = 'A'.repeat(1024 * 1024 + 10);
const hostileSegment = fc.oneof(
  fc.constantFrom(
    '..',
    '../../etc/passwd',
    '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '..%252f..%252f',
    '__proto__',
    'constructor',
    'prototype',
    '%00',
    '%E2%80%AE',
    '%F0%9F%92%A3',
    '%ff%fe',
    "'; DROP TABLE x; --",
    '$%7Bjndi:ldap://x%7D',
    'a'.repeat(5000),
    '',
  ),
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map(encodeURIComponent),
);

const hostileJson = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.constantFrom(
    '{"__proto__":{"admin":true,"polluted":1}}',
    '{"constructor":{"prototype":{"polluted":1}}}',
    '{"username":"admin","password":{"$gt":""}}',
    '{"role":"admin","username":"__proto__"}',
    '{"resourceMetrics":[{"resource":{"attributes":[{"key":"__proto__","value":{"stringValue":"x"}}]}}]}',
    '{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"__proto__":"x"},"startsAt":"not a time"}]}',
    '{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{},"startsAt":"2026-01-01T00:00:00Z","annotations":{"a":1}}]}',
    '{',
    '[',
    '"',
    'null',
    'NaN',
    '1e999999',
    '{"a":' + '['.repeat(5000) + ']'.repeat(5000) + '}',
    '\u0000',
    '\uFEFF{}',
    '{"username":"' + 'x'.repeat(100_000) + '","password":"y"}',
    HUGE,
  ),
  fc
    .dictionary(
      fc.constantFrom(
        'username',
        'password',
        'role',
        'instance',
        'disabled',
        'resourceMetrics',
        'alerts',
        'version',
        '__proto__',
      ),
      fc.oneof(
        fc.string({ maxLength: 30 }),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
      ),
    )
    .map((o) => JSON.stringify(o)),
);

const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json, text/html',
      '',
      undefined,
    ),
  },
);

const oddHeaders = fc.dictionary(
  fc.constantFrom(
    'x-forwarded-for',
    'x-request-id',
    'origin',
    'last-event-id',
    'accept',
    'x-http-method-override',
    'content-length',
  ),
  fc.oneof(
    fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
    fc.constantFrom('127.0.0.1', 'https://evil.example', '-1', '99999999999', 'DELETE', 'x'.repeat(8000)),
  ),
  { maxKeys: 3 },
);

const query = fc.array(
  fc.tuple(
    fc.constantFrom(
      'limit',
      'since',
      'type',
      'incident',
      'status',
      'after',
      '__proto__',
      'constructor',
      'bogus',
    ),
    fc.oneof(
      fc.constantFrom(
        '-1',
        '0',
        '1e9',
        'NaN',
        '1',
        '1000000',
        '2026-13-45T99:99:99Z',
        'plan.*',
        '>',
        '*',
        'telemetry.*',
        '../x',
      ),
      fc.string({ maxLength: 30 }),
    ),
  ),
  { maxLength: 4 },
);

interface Hostile {
  readonly method: string;
  readonly segments: string[];
  readonly query: [string, string][];
  readonly contentType: string | undefined;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
}

const hostile = (route: RouteDoc) =>
  fc.record({
    method: fc.oneof(
      { weight: 4, arbitrary: fc.constant(route.method.toUpperCase()) },
      { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS') },
    ),
    segments: fc.array(hostileSegment, { minLength: 1, maxLength: 2 }),
    query,
    contentType,
    headers: oddHeaders,
    body: fc.option(hostileJson, { nil: undefined, freq: 8 }),
  });

function requestOf(route: RouteDoc, h: Hostile, authorization: string | undefined): Request {
  let i = 0;
  const path = route.path.replace(/\{[A-Za-z]+\}/g, () => h.segments[i++ % h.segments.length] ?? 'x');
  const qs = h.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const headers = new Headers();
  for (const [k, v] of Object.entries(h.headers)) if (k !== 'content-length') headers.set(k, v);
  if (h.contentType !== undefined) headers.set('content-type', h.contentType);
  if (authorization !== undefined) headers.set('authorization', authorization);
  const withBody = h.body !== undefined && h.method !== 'GET' && h.method !== 'HEAD';
  return new Request(`http://gateway.test${path}${qs === '' ? '' : `?${qs}`}`, {
    method: h.method,
    headers,
    ...(withBody ? { body: h.body } : {}),
  });
}

const RUNS = 60;

describe('gateway - fuzzing every route', () => {
  for (const route of ROUTES) {
    test(`gateway - ${route.method.toUpperCase()} ${route.path} survives hostile input with and without a token`, async () => {
      const auth = fc.constantFrom<(string | undefined)[]>(
        `Bearer ${gw.people.admin.token}`,
        `Bearer ${gw.people.admin.token}`,
        `Bearer ${gw.people.admin.token}`,
        undefined,
        'Bearer not.a.token',
        'Bearer ',
        `Bootstrap ${'x'.repeat(40)}`,
        'Basic YWRtaW46YWRtaW4=',
      );
      await fc.assert(
        fc.asyncProperty(hostile(route), auth, async (h, authorization) => {
          const before = await stored();
          const res = await gw.app.request(requestOf(route, h, authorization));
          const text = await res.text();
          assert.ok(res.status < 500, `${res.status} for ${h.method} ${route.path}: ${text.slice(0, 300)}`);
          if (res.status >= 400) {
            assert.equal(res.headers.get('content-type'), 'application/problem+json', text.slice(0, 200));
            const body = JSON.parse(text) as { status: number; instance: string };
            assert.equal(body.status, res.status);
            assert.doesNotMatch(text, /\bat .+\.ts:\d+|node_modules|stack/i);
            assert.equal(await stored(), before, `a refused ${h.method} ${route.path} stored something`);
          }
          if (res.status === 401) assert.ok(res.headers.get('www-authenticate'));
          assert.equal(
            ({} as Record<string, unknown>)['polluted'],
            undefined,
            'Object.prototype was polluted',
          );
          assert.equal(({} as Record<string, unknown>)['admin'], undefined, 'Object.prototype was polluted');
        }),
        { numRuns: RUNS },
      );
    });
  }

  test('gateway - the fuzzed admin can still act (no request disabled or demoted it)', async () => {
    const res = await gw.call('GET', '/v1/accounts', { token: gw.people.admin.token });
    assert.equal(res.status, 200);
  });
});
