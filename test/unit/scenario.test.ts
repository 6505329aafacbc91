import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import {
  FAULT_KINDS,
  FleetErrorCode,
  parseScenario,
  readScenario,
  ScenarioError,
  startOrder,
} from '../../fleet/index.ts';

const scenariosDir = path.join(import.meta.dirname, '..', '..', 'scenarios');
const shipped = readdirSync(scenariosDir).filter((f) => f.endsWith('.json'));

/** A valid scenario as a plain object, to break one field at a time. */
function valid(): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(scenariosDir, 'memory-leak.json'), 'utf8')) as Record<
    string,
    unknown
  >;
}

/** The issues a refused scenario reports; fails the test when it is accepted or refused another way. */
function issuesOf(value: unknown): readonly string[] {
  try {
    parseScenario(typeof value === 'string' ? value : JSON.stringify(value), 'case.json');
  } catch (err) {
    assert.ok(err instanceof ScenarioError, `expected a ScenarioError, got ${String(err)}`);
    assert.equal(err.code, FleetErrorCode.SCENARIO_INVALID);
    assert.equal(err.fileName, 'case.json');
    return err.issues;
  }
  assert.fail('the scenario was accepted');
}

/** Sets `value` at `path` in a copy of `obj` (numbers index arrays). */
function withField(obj: unknown, fieldPath: readonly (string | number)[], value: unknown): unknown {
  const copy = structuredClone(obj) as Record<string | number, unknown>;
  let at = copy;
  for (const key of fieldPath.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  const last = fieldPath[fieldPath.length - 1] as string | number;
  if (value === undefined) delete at[last];
  else at[last] = value;
  return copy;
}

describe('scenario', () => {
  test('scenario - every shipped scenario file parses', async () => {
    assert.ok(shipped.length >= 4, `found ${shipped.join(', ')}`);
    for (const file of shipped) {
      const s = await readScenario(path.join(scenariosDir, file));
      assert.match(s.name, /^[a-z][a-z0-9-]*$/);
      assert.ok(
        s.fleet.services.some((svc) => svc.name === s.fleet.entry),
        file,
      );
    }
  });

  test('scenario - defaults fill what a file may leave out', () => {
    const s = parseScenario(
      JSON.stringify(withField(valid(), ['fleet', 'services', 2, 'dependsOn'], undefined)),
      'x.json',
    );
    const payments = s.fleet.services.find((svc) => svc.name === 'payments');
    assert.deepEqual(payments?.dependsOn, []);
    assert.equal(payments?.version, '1.0.0');
    assert.deepEqual(s.expect.forbidden, ['scale_in']);
  });

  test('scenario - services start in dependency order, leaves first', async () => {
    const s = await readScenario(path.join(scenariosDir, 'memory-leak.json'));
    assert.deepEqual(
      startOrder(s.fleet).map((svc) => svc.name),
      ['payments', 'checkout', 'frontend'],
    );
  });

  const malformed: [string, (v: unknown) => unknown, RegExp][] = [
    [
      'an unknown fault kind',
      (v) => withField(v, ['faults', 0, 'kind'], 'boom'),
      /^faults\[0\]\.kind: expected one of cpu_spin\|memory_leak\|/,
    ],
    [
      'a param of the wrong type',
      (v) => withField(v, ['faults', 0, 'params', 'mbPerS'], 'lots'),
      /^faults\[0\]\.params\.mbPerS: expected number/,
    ],
    [
      'a missing param',
      (v) => withField(v, ['faults', 0, 'params'], {}),
      /^faults\[0\]\.params\.mbPerS: required/,
    ],
    [
      'a param of another fault kind',
      (v) => withField(v, ['faults', 0, 'params'], { mbPerS: 1, utilisation: 0.5 }),
      /^faults\[0\]\.params: unknown field "utilisation"/,
    ],
    [
      'a utilisation above 1',
      (v) =>
        withField(withField(v, ['faults', 0, 'kind'], 'cpu_spin'), ['faults', 0, 'params'], {
          utilisation: 1.5,
        }),
      /^faults\[0\]\.params\.utilisation: /,
    ],
    [
      'a bad_deploy without a version',
      (v) =>
        withField(withField(v, ['faults', 0, 'kind'], 'bad_deploy'), ['faults', 0, 'params'], {
          errorRate: 0.3,
        }),
      /^faults\[0\]\.params\.version: required/,
    ],
    [
      'a fault on an unknown service',
      (v) => withField(v, ['faults', 0, 'service'], 'billing'),
      /^faults\[0\]\.service: unknown service "billing"/,
    ],
    [
      'a fault on a replica the service lacks',
      (v) => withField(v, ['faults', 0, 'replica'], 2),
      /^faults\[0\]\.replica: "checkout" has replicas 0–1/,
    ],
    [
      'a fault after the end of the run',
      (v) => withField(v, ['faults', 0, 'atS'], 120),
      /faults\[0\]\.atS: must be before durationS \(120\)/,
    ],
    [
      'a dependency on an unknown service',
      (v) => withField(v, ['fleet', 'services', 1, 'dependsOn'], ['ledger']),
      /^fleet\.services\[1\]\.dependsOn\[0\]: unknown service "ledger"/,
    ],
    [
      'an unknown entry',
      (v) => withField(v, ['fleet', 'entry'], 'gateway'),
      /^fleet\.entry: unknown service "gateway"/,
    ],
    [
      'a dependency cycle',
      (v) => withField(v, ['fleet', 'services', 2, 'dependsOn'], ['frontend']),
      /^fleet\.services: dependency cycle frontend → checkout → payments → frontend/,
    ],
    [
      'a service that depends on itself',
      (v) => withField(v, ['fleet', 'services', 2, 'dependsOn'], ['payments']),
      /^fleet\.services: dependency cycle payments → payments/,
    ],
    [
      'two services of one name',
      (v) => withField(v, ['fleet', 'services', 2, 'name'], 'checkout'),
      /^fleet\.services\[2\]\.name: duplicate service "checkout"/,
    ],
    [
      'a name that is not kebab-case',
      (v) => withField(v, ['name'], 'Checkout_Leak'),
      /^name: expected a kebab-case name/,
    ],
    [
      'a service name that is not kebab-case',
      (v) => withField(v, ['fleet', 'services', 0, 'name'], 'front end'),
      /^fleet\.services\[0\]\.name: expected a kebab-case name/,
    ],
    [
      'zero replicas',
      (v) => withField(v, ['fleet', 'services', 0, 'replicas'], 0),
      /^fleet\.services\[0\]\.replicas: /,
    ],
    [
      'fractional replicas',
      (v) => withField(v, ['fleet', 'services', 0, 'replicas'], 1.5),
      /^fleet\.services\[0\]\.replicas: expected int/,
    ],
    [
      'a version that is not a version',
      (v) => withField(v, ['fleet', 'services', 1, 'version'], 'latest'),
      /^fleet\.services\[1\]\.version: expected a version/,
    ],
    ['a missing load', (v) => withField(v, ['load'], undefined), /^load: required \(object\)/],
    ['a negative rate', (v) => withField(v, ['load', 'rps'], -3), /^load\.rps: /],
    [
      'an unknown remediation',
      (v) => withField(v, ['expect', 'remediation'], ['reboot']),
      /^expect\.remediation\[0\]: expected one of restart\|rollback\|/,
    ],
    [
      'a remediation that is also forbidden',
      (v) => withField(v, ['expect', 'remediation'], ['scale_in']),
      /^expect\.remediation\[0\]: "scale_in" is also forbidden/,
    ],
    [
      'a root cause no fault matches',
      (v) => withField(v, ['expect', 'rootCause', 'kind'], 'latency'),
      /^expect\.rootCause: no fault in faults has this service and kind/,
    ],
    [
      'a root cause on an unknown service',
      (v) => withField(v, ['expect', 'rootCause', 'service'], ['checkout', 'ledger']),
      /expect\.rootCause\.service\[1\]: unknown service "ledger"/,
    ],
    [
      'a resolve deadline past the end of the run',
      (v) => withField(v, ['expect', 'resolveWithinS'], 200),
      /^expect\.resolveWithinS: the first fault starts at 30 s/,
    ],
    [
      'a detect deadline after the resolve deadline',
      (v) => withField(v, ['expect', 'detectWithinS'], 95),
      /^expect\.detectWithinS: must not exceed resolveWithinS/,
    ],
    [
      'a traffic_surge off the entry service',
      (v) =>
        withField(withField(v, ['faults', 0, 'kind'], 'traffic_surge'), ['faults', 0, 'params'], {
          factor: 3,
        }),
      /^faults\[0\]\.service: traffic_surge multiplies the load on the entry service "frontend"/,
    ],
    ['an unknown top-level field', (v) => withField(v, ['owner'], 'me'), /^\(root\): unknown field "owner"/],
    ['text that is not JSON', () => '{"name": ', /^\(root\): not JSON/],
    ['a JSON value that is not an object', () => [1, 2], /^\(root\): expected object/],
  ];
  for (const [what, breakIt, expected] of malformed) {
    test(`scenario - refuses ${what}, naming the field`, () => {
      const issues = issuesOf(breakIt(valid()));
      assert.ok(
        issues.some((i) => expected.test(i)),
        `expected an issue matching ${String(expected)}, got:\n${issues.join('\n')}`,
      );
    });
  }

  test('scenario - the refusal message names the file and every issue', () => {
    const broken = withField(withField(valid(), ['faults', 0, 'kind'], 'boom'), ['load', 'rps'], 'fast');
    assert.throws(
      () => parseScenario(JSON.stringify(broken), 'broken.json'),
      (err: unknown) =>
        err instanceof ScenarioError &&
        err.message.startsWith('broken.json: ') &&
        err.message.includes('faults[0].kind') &&
        err.message.includes('load.rps'),
    );
  });

  test('scenario - each fault kind takes its own params', () => {
    const params: Record<(typeof FAULT_KINDS)[number], unknown> = {
      cpu_spin: { utilisation: 0.9 },
      memory_leak: { mbPerS: 15 },
      latency: { ms: 400 },
      error_burst: { rate: 0.2 },
      bad_deploy: { version: '2.1.0', errorRate: 0.3, latencyMs: 0 },
      crash_loop: { afterS: 5 },
      pool_exhaustion: { size: 1 },
      disk_fill: { mbPerS: 20 },
      traffic_surge: { factor: 3 },
      log_injection: { lines: ['a line', '{"level":60,"msg":"not really"}'] },
    };
    for (const kind of FAULT_KINDS) {
      const service = kind === 'traffic_surge' ? 'frontend' : 'checkout';
      const v = withField(valid(), ['faults', 0], { atS: 10, service, kind, params: params[kind] });
      const rootCaused = withField(v, ['expect', 'rootCause'], { service, kind });
      const s = parseScenario(JSON.stringify(rootCaused), `${kind}.json`);
      assert.equal(s.faults[0]?.kind, kind);
    }
  });

  test('scenario - random JSON never throws anything but a ScenarioError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.string(),
        ),
        (text) => {
          try {
            parseScenario(text, 'fuzz.json');
          } catch (err) {
            assert.ok(err instanceof ScenarioError, String(err));
            assert.ok(err.issues.length > 0);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  test('scenario - a valid scenario with any one field replaced by random JSON is parsed or refused, never crashes', () => {
    const paths: (string | number)[][] = [
      ['name'],
      ['durationS'],
      ['fleet'],
      ['fleet', 'services'],
      ['fleet', 'services', 0],
      ['fleet', 'services', 1, 'dependsOn'],
      ['fleet', 'services', 1, 'replicas'],
      ['fleet', 'entry'],
      ['load'],
      ['faults'],
      ['faults', 0],
      ['faults', 0, 'kind'],
      ['faults', 0, 'params'],
      ['faults', 0, 'replica'],
      ['expect'],
      ['expect', 'rootCause'],
      ['expect', 'rootCause', 'kind'],
      ['expect', 'remediation'],
    ];
    fc.assert(
      fc.property(fc.constantFrom(...paths), fc.jsonValue(), (fieldPath, value) => {
        try {
          parseScenario(JSON.stringify(withField(valid(), fieldPath, value)), 'mutant.json');
        } catch (err) {
          assert.ok(err instanceof ScenarioError, String(err));
        }
      }),
      { numRuns: 500 },
    );
  });

  test('scenario - a file deeper than the stack is refused, not crashed on', () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    assert.throws(() => parseScenario(deep, 'deep.json'), ScenarioError);
  });
});
