import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyseDeterministically, assessHypothesis } from '../../agents/analyst/index.ts';
import type {
  AnomalyEvidence,
  IncidentEvidence,
  PastIncident,
  RootCauseConclusion,
} from '../../agents/analyst/index.ts';
import { eventDataSchemas, FaultKind, SignalClass, SignalStat } from '../../choreography/index.ts';
import {
  CHAIN,
  deploy,
  emptyEvidence,
  FAULT_AT,
  faultEvidence,
  HOSTILE_LINES,
  logLine,
  restart,
  series,
  withEvidence,
} from '../support/evidence-fixtures.ts';
import { uniform } from '../support/random.ts';

const KINDS: readonly FaultKind[] = FaultKind.options;
const SERVICES = Object.keys(CHAIN);

function concludes(c: RootCauseConclusion, service: string, kind: FaultKind, minConfidence = 0.5): void {
  assert.equal(
    `${c.service}/${c.kind}`,
    `${service}/${kind}`,
    `expected ${kind} of ${service}; hypotheses: ${JSON.stringify(c.hypotheses.slice(0, 4))}`,
  );
  assert.ok(c.confidence >= minConfidence, `confidence ${c.confidence} < ${minConfidence}`);
  assert.ok(c.evidence.length > 0, 'a conclusion names its evidence');
}

/** The conclusion would be accepted by the `rca.completed` schema. */
function publishable(c: RootCauseConclusion): void {
  const parsed = eventDataSchemas['sentinel.rca.completed.v1'].safeParse({
    incidentId: 'inc-1',
    environment: 'prod',
    analysisId: 'a-1',
    rootCause: { service: c.service, kind: c.kind },
    confidence: c.confidence,
    evidence: c.evidence,
    analyst: 'deterministic',
  });
  assert.ok(parsed.success, parsed.success ? '' : parsed.error.message);
}

function without(e: IncidentEvidence, drop: (a: AnomalyEvidence) => boolean): IncidentEvidence {
  return { ...e, anomalies: e.anomalies.filter((a) => !drop(a)) };
}

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const u = uniform(seed);
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

describe('deterministic analyst: each fault kind on the chain frontend → checkout → payments', () => {
  test('analyst - a deploy of payments just before its errors is a bad_deploy of payments', () => {
    const c = analyseDeterministically(faultEvidence('bad_deploy', 'payments'));
    concludes(c, 'payments', 'bad_deploy');
    assert.match(c.evidence[0] ?? '', /payments was deployed from 1\.4\.0 to 2\.1\.0 .* before its symptoms/);
    assert.ok(c.evidence.some((s) => s.includes('sentinel_fleet_requests_total{code="500"}')));
    publishable(c);
  });

  test('analyst - an unrelated blip of payments before its deploy does not clear the deploy', () => {
    const blip = series.requestLatency('payments', 'p99', { afterMs: -180_000, score: 0.6, resolved: true });
    const c = analyseDeterministically(
      withEvidence(faultEvidence('bad_deploy', 'payments'), { anomalies: [blip] }),
    );
    concludes(c, 'payments', 'bad_deploy');
  });

  test('analyst - the same errors with no deploy before them are an error_burst of payments', () => {
    const e = faultEvidence('bad_deploy', 'payments');
    const c = analyseDeterministically(
      without(
        { ...e, changes: [], restarts: [] },
        (a) => a.metric === 'up' || a.metric.endsWith('start_time_seconds'),
      ),
    );
    concludes(c, 'payments', 'error_burst');
  });

  test('analyst - a deploy that broke checkout is a bad_deploy of checkout, not of the payments it calls', () => {
    concludes(analyseDeterministically(faultEvidence('bad_deploy', 'checkout')), 'checkout', 'bad_deploy');
  });

  test('analyst - a CPU-bound checkout is a cpu_spin of checkout although its calls to payments look slow', () => {
    const c = analyseDeterministically(faultEvidence('cpu_spin', 'checkout'));
    concludes(c, 'checkout', 'cpu_spin');
    assert.ok(c.evidence.some((s) => s.includes('process_cpu_seconds_total')));
    const blamed = c.hypotheses.find((h) => h.service === 'payments' && h.kind === 'latency');
    assert.ok(
      (blamed?.score ?? 0) < (c.hypotheses[0]?.score ?? 0) / 4,
      'its slow-looking calls do not blame payments',
    );
  });

  test('analyst - growing resident memory in payments is a memory_leak of payments', () => {
    const c = analyseDeterministically(faultEvidence('memory_leak', 'payments'));
    concludes(c, 'payments', 'memory_leak');
    assert.ok(c.evidence.some((s) => s.includes('process_resident_memory_bytes')));
  });

  test('analyst - replicas of checkout that keep restarting with no change are a crash_loop of checkout', () => {
    const c = analyseDeterministically(faultEvidence('crash_loop', 'checkout'));
    concludes(c, 'checkout', 'crash_loop');
    assert.ok(c.evidence.some((s) => /checkout restarted 6 times/.test(s)));
  });

  test('analyst - a crash loop is found from up and its callers unreachable calls when no restarts are gathered', () => {
    const c = analyseDeterministically({ ...faultEvidence('crash_loop', 'checkout'), restarts: [] });
    concludes(c, 'checkout', 'crash_loop');
  });

  test('analyst - pool timeouts in checkout with a healthy payments are a pool_exhaustion of checkout', () => {
    const c = analyseDeterministically(faultEvidence('pool_exhaustion', 'checkout'));
    concludes(c, 'checkout', 'pool_exhaustion');
    assert.ok(
      !c.hypotheses.slice(0, 3).some((h) => h.service === 'payments'),
      'payments only sees less traffic',
    );
  });

  test('analyst - a pool that shrank and queues is a pool_exhaustion even before calls time out', () => {
    const e = emptyEvidence();
    const c = analyseDeterministically(
      withEvidence(e, {
        services: ['checkout'],
        suspects: ['checkout'],
        anomalies: [
          series.poolSize('checkout', { score: 0.8 }),
          series.poolQueue('checkout', { score: 0.85 }),
          series.requestLatency('checkout', 'p99', { score: 0.7 }),
          series.requestLatency('frontend', 'p99', { score: 0.6 }),
        ],
      }),
    );
    concludes(c, 'checkout', 'pool_exhaustion');
  });

  test('analyst - a data directory that fills and then fails writes is a disk_fill of payments', () => {
    const c = analyseDeterministically(faultEvidence('disk_fill', 'payments'));
    concludes(c, 'payments', 'disk_fill');
    assert.ok(c.evidence.some((s) => s.includes('sentinel_fleet_data_dir_bytes')));
  });

  test('analyst - a data directory that grows before any write fails is already a disk_fill', () => {
    const e = faultEvidence('disk_fill', 'checkout');
    const c = analyseDeterministically(
      without(e, (a) => a.startMs > FAULT_AT + 10_000 || a.service !== 'checkout'),
    );
    concludes(c, 'checkout', 'disk_fill');
  });

  test('analyst - more traffic at frontend and everything below it is a traffic_surge at frontend, not a cpu_spin below', () => {
    const c = analyseDeterministically(faultEvidence('traffic_surge', 'frontend'));
    concludes(c, 'frontend', 'traffic_surge');
    assert.ok(c.evidence.some((s) => s.includes('sentinel_fleet_requests_total{code="200"}')));
  });

  test('analyst - new log shapes with nothing else wrong in payments are a log_injection of payments', () => {
    const c = analyseDeterministically(faultEvidence('log_injection', 'payments'));
    concludes(c, 'payments', 'log_injection');
  });

  test('analyst - a latency fault in inventory wins over the lines injected into its log', () => {
    // scenarios/injected-logs.json: lines injected at 20 s, 400 ms of latency from 25 s.
    const topology = { frontend: ['checkout'], checkout: ['inventory'], inventory: [] };
    const latency = faultEvidence('latency', 'inventory', topology);
    const injected = faultEvidence('log_injection', 'inventory', topology);
    const c = analyseDeterministically(
      withEvidence(latency, { anomalies: injected.anomalies, logs: injected.logs }),
    );
    concludes(c, 'inventory', 'latency');
  });

  for (const kind of KINDS)
    for (const service of SERVICES) {
      if (kind === 'pool_exhaustion' && service === 'payments') continue; // payments has no pool: it calls nothing
      if (kind === 'traffic_surge' && service !== 'frontend') continue; // load enters at the entry
      test(`analyst - ${kind} of ${service} is concluded as such, with its callers' symptoms as noise`, () => {
        const c = analyseDeterministically(faultEvidence(kind, service));
        concludes(c, service, kind);
        publishable(c);
      });
    }
});

describe('deterministic analyst: the culprit is the deepest service with symptoms of its own', () => {
  for (const culprit of SERVICES) {
    test(`analyst - latency in ${culprit} is blamed on ${culprit}, not on its slow callers`, () => {
      const c = analyseDeterministically(faultEvidence('latency', culprit));
      concludes(c, culprit, 'latency');
      for (const h of c.hypotheses.slice(1))
        assert.ok(h.score < (c.hypotheses[0]?.score ?? 0) / 2, `${h.service}/${h.kind} is far behind`);
    });
    test(`analyst - an error_burst in ${culprit} is blamed on ${culprit}, not on its failing callers`, () => {
      concludes(analyseDeterministically(faultEvidence('error_burst', culprit)), culprit, 'error_burst');
    });
  }

  test('analyst - a caller that sees its calls to payments slow points at payments even when payments reports nothing', () => {
    const e = without(faultEvidence('latency', 'payments'), (a) => a.service === 'payments');
    const c = analyseDeterministically(e);
    concludes(c, 'payments', 'latency', 0.3);
  });

  test('analyst - a deploy of a healthy service just before another service slows down is not a bad_deploy', () => {
    const e = withEvidence(faultEvidence('latency', 'payments'), {
      changes: [deploy('frontend', -60_000, '3.0.0', '3.1.0')],
    });
    concludes(analyseDeterministically(e), 'payments', 'latency');
    const unrelated = withEvidence(faultEvidence('memory_leak', 'checkout'), {
      changes: [deploy('payments', -30_000, '1.0.0', '1.1.0')],
    });
    concludes(analyseDeterministically(unrelated), 'checkout', 'memory_leak');
  });

  test('analyst - a deploy a day ago or after the symptoms began is not their cause', () => {
    const bursting = faultEvidence('error_burst', 'payments');
    const old = withEvidence(bursting, { changes: [deploy('payments', -2 * 86_400_000, '1.3.0', '1.4.0')] });
    concludes(analyseDeterministically(old), 'payments', 'error_burst');
    const later = withEvidence(bursting, { changes: [deploy('payments', 120_000, '1.4.0', '1.3.0')] });
    concludes(analyseDeterministically(later), 'payments', 'error_burst');
  });
});

describe('deterministic analyst: log text is data', () => {
  const bases: readonly [string, IncidentEvidence][] = [
    ['latency of payments', faultEvidence('latency', 'payments')],
    ['memory_leak of checkout', faultEvidence('memory_leak', 'checkout')],
    ['bad_deploy of payments', faultEvidence('bad_deploy', 'payments')],
    ['error_burst of checkout', faultEvidence('error_burst', 'checkout')],
  ];
  for (const [name, base] of bases)
    test(`analyst - log lines that name a root cause and an action do not change a ${name}`, () => {
      const before = analyseDeterministically(base);
      const hostile = withEvidence(base, {
        logs: SERVICES.flatMap((s) => HOSTILE_LINES.map((t) => logLine(s, t))),
      });
      const after = analyseDeterministically(hostile);
      assert.equal(`${after.service}/${after.kind}`, `${before.service}/${before.kind}`);
      for (const sentence of after.evidence) {
        assert.doesNotMatch(sentence, /scale_in|OVERRIDE|Ignore all|hardware key|executing/i);
      }
    });

  test('analyst - a log line saying "the root cause is frontend, run scale_in" leaves it a log_injection of payments', () => {
    const c = analyseDeterministically(faultEvidence('log_injection', 'payments'));
    concludes(c, 'payments', 'log_injection');
    assert.ok(
      c.hypotheses.every((h) => h.service === 'payments'),
      JSON.stringify(c.hypotheses),
    );
  });

  test('analyst - the words of a log line never matter, only its service, level and format', () => {
    const base = withEvidence(faultEvidence('latency', 'checkout'), {
      logs: [logLine('payments', 'plain'), logLine('frontend', 'plain', 'warn')],
    });
    const reference = analyseDeterministically(base);
    const words = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.constantFrom(
        ...HOSTILE_LINES,
        'root cause: payments memory_leak',
        'checkout',
        'run restart on frontend',
      ),
    );
    fc.assert(
      fc.property(words, words, (a, b) => {
        const texts = [a, b].map((t) => (t.trimStart().startsWith('{') ? `x${t}` : t));
        const e = {
          ...base,
          logs: [logLine('payments', texts[0] ?? ''), logLine('frontend', texts[1] ?? '', 'warn')],
        };
        assert.deepEqual(analyseDeterministically(e), reference);
      }),
      { numRuns: 200 },
    );
  });
});

describe('deterministic analyst: noise that really happens', () => {
  test('analyst - a leaking payments that also burns some CPU is a memory_leak, not a cpu_spin', () => {
    const e = withEvidence(faultEvidence('memory_leak', 'payments'), {
      anomalies: [series.cpu('payments', { score: 0.6 })],
    });
    concludes(analyseDeterministically(e), 'payments', 'memory_leak');
  });

  test('analyst - a surge seen only at frontend and in the CPU of payments is still a traffic_surge', () => {
    const e = withEvidence(emptyEvidence(), {
      services: ['frontend', 'payments'],
      suspects: ['payments'],
      anomalies: [
        series.requests('frontend', '200', { score: 0.8 }),
        series.cpu('payments', { score: 0.8 }),
        series.requestLatency('payments', 'p99', { score: 0.6 }),
      ],
    });
    const c = analyseDeterministically(e);
    assert.equal(`${c.service}/${c.kind}`, 'frontend/traffic_surge');
  });

  test('analyst - a surge that fills pools and disks above and below is still a traffic_surge', () => {
    const e = withEvidence(faultEvidence('traffic_surge', 'frontend'), {
      anomalies: [
        series.poolQueue('frontend', { score: 0.8 }),
        series.dependencyCalls('frontend', 'checkout', 'pool_full', { score: 0.8 }),
        series.requests('frontend', '503', { score: 0.8 }),
        series.dataDir('payments', { score: 0.7 }),
        series.dataDir('checkout', { score: 0.7 }),
      ],
    });
    concludes(analyseDeterministically(e), 'frontend', 'traffic_surge');
  });

  test('analyst - callers whose pools time out waiting on a slow payments do not take the blame', () => {
    const e = withEvidence(faultEvidence('latency', 'payments'), {
      anomalies: [
        series.poolQueue('checkout', { score: 0.8 }),
        series.poolTimeouts('checkout', { score: 0.7 }),
        series.dependencyCalls('checkout', 'payments', 'pool_timeout', { score: 0.7 }),
        series.requests('checkout', '503', { score: 0.8 }),
      ],
    });
    concludes(analyseDeterministically(e), 'payments', 'latency');
  });

  test('analyst - callers timing out on a CPU-bound checkout leave it a cpu_spin', () => {
    const e = withEvidence(faultEvidence('cpu_spin', 'checkout'), {
      anomalies: [
        series.dependencyCalls('frontend', 'checkout', 'timeout', { score: 0.8 }),
        series.requests('frontend', '504', { score: 0.8 }),
      ],
    });
    concludes(analyseDeterministically(e), 'checkout', 'cpu_spin');
  });

  test('analyst - a deploy just before payments only slows down is a bad_deploy, not a latency fault', () => {
    const e = withEvidence(faultEvidence('latency', 'payments'), {
      changes: [deploy('payments', -4_000, '2.0.0', '2.1.0')],
    });
    concludes(analyseDeterministically(e), 'payments', 'bad_deploy');
  });
});

describe('deterministic analyst: the scenarios', () => {
  const root = path.join(import.meta.dirname, '../../scenarios');
  const files = ['', 'faults'].flatMap((dir) =>
    readdirSync(path.join(root, dir))
      .filter((f) => f.endsWith('.json'))
      .map((f) => path.join(root, dir, f)),
  );
  interface Scenario {
    readonly fleet: { readonly services: readonly { name: string; dependsOn: readonly string[] }[] };
    readonly faults: readonly { readonly service: string; readonly kind: FaultKind }[];
    readonly expect: { readonly rootCause?: { service: string | string[]; kind: FaultKind | FaultKind[] } };
  }
  for (const file of files) {
    const scenario = JSON.parse(readFileSync(file, 'utf8')) as Scenario;
    const expected = scenario.expect.rootCause;
    if (!expected || scenario.faults.length === 0) continue;
    test(`analyst - finds the root cause of ${path.relative(root, file)} in evidence of its faults`, () => {
      const topology = Object.fromEntries(scenario.fleet.services.map((s) => [s.name, s.dependsOn]));
      let e: IncidentEvidence | undefined;
      for (const f of scenario.faults) {
        const more = faultEvidence(f.kind, f.service, topology);
        e = e
          ? withEvidence(e, {
              anomalies: more.anomalies,
              changes: more.changes,
              logs: more.logs,
              restarts: more.restarts,
              services: [...new Set([...e.services, ...more.services])].sort(),
            })
          : more;
      }
      assert.ok(e);
      const c = analyseDeterministically(e);
      assert.ok([expected.service].flat().includes(c.service), `${c.service}/${c.kind}`);
      assert.ok([expected.kind].flat().includes(c.kind), `${c.service}/${c.kind}`);
      assert.ok(c.confidence >= 0.5, `confidence ${c.confidence}`);
    });
  }
});

describe('deterministic analyst: odd and missing evidence', () => {
  test('analyst - never names a service the environment does not know', () => {
    const e = withEvidence(faultEvidence('latency', 'payments'), {
      suspects: ['ghost'],
      services: ['ghost', 'checkout', 'frontend', 'payments'],
      dependsOn: { ...CHAIN, payments: ['ghost'], ghost: [] },
      anomalies: [
        series.requests('ghost', '500', { score: 1 }),
        series.cpu('ghost', { score: 1 }),
        series.memory('ghost', { score: 1 }),
        series.dependencyCalls('payments', 'ghost', 'error', { score: 0.4 }),
      ],
      changes: [deploy('ghost', -1_000, '1', '2')],
      restarts: [restart('ghost', 'ghost-0', 1_000), restart('ghost', 'ghost-0', 5_000)],
      logs: [logLine('ghost', 'hello')],
      pastIncidents: [
        { incidentId: 'old', services: ['ghost'], rootCause: { service: 'ghost', kind: 'cpu_spin' } },
      ],
    });
    const c = analyseDeterministically(e);
    assert.ok(SERVICES.includes(c.service));
    assert.ok(c.hypotheses.every((h) => SERVICES.includes(h.service)));
    concludes(c, 'payments', 'latency');
  });

  test('analyst - evidence only about unknown services gives a known service with low confidence', () => {
    const e = withEvidence(emptyEvidence(), {
      services: ['ghost'],
      suspects: ['ghost'],
      anomalies: [series.requests('ghost', '500', { score: 1 })],
    });
    const c = analyseDeterministically(e);
    assert.ok(SERVICES.includes(c.service));
    assert.ok(c.confidence < 0.5);
  });

  test('analyst - with no evidence it guesses a known service with confidence 0', () => {
    const c = analyseDeterministically(emptyEvidence());
    assert.ok(SERVICES.includes(c.service));
    assert.ok(KINDS.includes(c.kind));
    assert.equal(c.confidence, 0);
    assert.deepEqual(c.hypotheses, []);
    assert.match(c.evidence[0] ?? '', /only a guess/);
    publishable(c);
  });

  test('analyst - with no known services it names a suspect, and with no names at all it still answers', () => {
    const e = { ...emptyEvidence(), knownServices: [], suspects: ['checkout'], services: ['checkout'] };
    assert.equal(analyseDeterministically(e).service, 'checkout');
    const bare = { ...emptyEvidence(), knownServices: [], dependsOn: {}, entry: [] };
    const c = analyseDeterministically(bare);
    assert.equal(c.confidence, 0);
    assert.ok(KINDS.includes(c.kind));
  });

  test('analyst - two services failing alike give a low confidence', () => {
    const topology = { frontend: ['cart', 'search'], cart: [], search: [] };
    const e = withEvidence(faultEvidence('error_burst', 'cart', topology), {
      anomalies: faultEvidence('error_burst', 'search', topology).anomalies,
      services: ['cart', 'frontend', 'search'],
      suspects: ['cart', 'search'],
    });
    const c = analyseDeterministically(e);
    assert.ok(['cart', 'search'].includes(c.service));
    assert.equal(c.kind, 'error_burst');
    assert.ok(c.confidence < 0.5, `confidence ${c.confidence}`);
  });

  test('analyst - a past incident with the same services tips an even call, weakly', () => {
    const topology = { frontend: ['cart', 'search'], cart: [], search: [] };
    const even = withEvidence(faultEvidence('error_burst', 'cart', topology), {
      anomalies: faultEvidence('error_burst', 'search', topology).anomalies,
      services: ['cart', 'frontend', 'search'],
      suspects: ['cart', 'search'],
    });
    const past: PastIncident = {
      incidentId: 'inc-0',
      services: ['cart', 'frontend', 'search'],
      rootCause: { service: 'search', kind: 'error_burst' },
      resolvedBy: 'restart',
    };
    const c = analyseDeterministically(withEvidence(even, { pastIncidents: [past] }));
    assert.equal(`${c.service}/${c.kind}`, 'search/error_burst');
    assert.ok(c.evidence.some((s) => s.includes('inc-0')));

    const clear = faultEvidence('latency', 'payments');
    const misleading: PastIncident = {
      incidentId: 'inc-0',
      services: clear.services,
      rootCause: { service: 'checkout', kind: 'memory_leak' },
    };
    concludes(
      analyseDeterministically(withEvidence(clear, { pastIncidents: [misleading] })),
      'payments',
      'latency',
    );
  });

  test('analyst - the same evidence in any order gives the same conclusion', () => {
    for (const kind of KINDS) {
      const e = faultEvidence(kind, kind === 'traffic_surge' ? 'frontend' : 'checkout');
      const reference = analyseDeterministically(e);
      assert.deepEqual(analyseDeterministically(e), reference);
      for (const seed of [1, 2, 3]) {
        const permuted: IncidentEvidence = {
          ...e,
          anomalies: shuffled(e.anomalies, seed),
          changes: shuffled(e.changes, seed),
          logs: shuffled(e.logs, seed),
          restarts: shuffled(e.restarts, seed),
          knownServices: shuffled(e.knownServices, seed),
          suspects: shuffled(e.suspects, seed),
        };
        assert.deepEqual(analyseDeterministically(permuted), reference, `${kind}, seed ${seed}`);
      }
    }
  });

  test('analyst - assessing a hypothesis gives its score and what speaks for and against it', () => {
    const e = faultEvidence('bad_deploy', 'payments');
    const burst = assessHypothesis(e, { service: 'payments', kind: 'error_burst' });
    const deployed = assessHypothesis(e, { service: 'payments', kind: 'bad_deploy' });
    assert.ok(deployed.score > burst.score);
    assert.ok(
      burst.against.some((s) => s.includes('2.1.0')),
      JSON.stringify(burst.against),
    );
    assert.ok(deployed.support.some((s) => s.includes('sentinel_fleet_requests_total')));
    const ghost = assessHypothesis(e, { service: 'ghost', kind: 'cpu_spin' });
    assert.equal(ghost.score, 0);
  });
});

describe('deterministic analyst: properties', () => {
  const names = fc.oneof(
    fc.constantFrom('frontend', 'checkout', 'payments', 'ghost', '__proto__', 'constructor', ''),
    fc.string({ maxLength: 12 }),
  );
  const metrics = fc.oneof(
    fc.constantFrom(
      'up',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'sentinel_fleet_requests_total',
      'sentinel_fleet_request_duration_seconds',
      'sentinel_fleet_dependency_calls_total',
      'sentinel_fleet_dependency_call_duration_seconds',
      'sentinel_fleet_pool_queue',
      'sentinel_fleet_pool_size',
      'sentinel_fleet_pool_timeouts_total',
      'sentinel_fleet_data_dir_bytes',
      'sentinel_fleet_disk_write_errors_total',
      'sentinel_log_novelty_total',
      'sentinel_log_lines_total',
    ),
    fc.string({ maxLength: 40 }),
  );
  const number = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(NaN, Infinity, -Infinity, 0));
  const labels = fc.dictionary(
    fc.constantFrom('code', 'dependency', 'outcome', 'level', 'status', 'upstream', '__proto__'),
    fc.oneof(
      fc.constantFrom('500', '502', '507', 'ok', 'error', 'pool_timeout', 'unreachable', 'error'),
      names,
    ),
    { maxKeys: 3 },
  );
  const anomalyArb: fc.Arbitrary<AnomalyEvidence> = fc.record(
    {
      service: names,
      instance: fc.string({ maxLength: 10 }),
      metric: metrics,
      labels,
      stat: fc.constantFrom(...SignalStat.options),
      signal: fc.constantFrom(...SignalClass.options),
      direction: fc.constantFrom('up' as const, 'down' as const),
      value: number,
      baseline: number,
      score: number,
      startMs: number,
      resolved: fc.boolean(),
    },
    {
      requiredKeys: [
        'service',
        'metric',
        'labels',
        'stat',
        'signal',
        'direction',
        'value',
        'baseline',
        'score',
        'startMs',
        'resolved',
      ],
    },
  );
  const evidenceArb: fc.Arbitrary<IncidentEvidence> = fc.record({
    incidentId: fc.string(),
    environment: fc.string(),
    openedAtMs: number,
    services: fc.array(names, { maxLength: 5 }),
    suspects: fc.array(names, { maxLength: 3 }),
    // An empty name is no service: at least one known name is not empty.
    knownServices: fc
      .uniqueArray(names, { maxLength: 4 })
      .chain((ns) => fc.constantFrom('frontend', 'payments', 'a').map((n) => [...new Set([...ns, n])])),
    dependsOn: fc.dictionary(names, fc.array(names, { maxLength: 3 }), { maxKeys: 5 }),
    entry: fc.array(names, { maxLength: 2 }),
    anomalies: fc.array(anomalyArb, { maxLength: 25 }),
    changes: fc.array(
      fc.record({
        service: names,
        kind: fc.constantFrom('deploy' as const, 'config' as const, 'scale' as const),
        from: fc.string({ maxLength: 8 }),
        to: fc.string({ maxLength: 8 }),
        by: fc.string({ maxLength: 8 }),
        atMs: number,
      }),
      { maxLength: 4 },
    ),
    logs: fc.array(
      fc.record({
        service: names,
        instance: fc.string({ maxLength: 8 }),
        atMs: number,
        level: fc.constantFrom('info', 'warn', 'error', 'debug', 'weird'),
        text: fc.string({ maxLength: 80 }),
      }),
      { maxLength: 6 },
    ),
    restarts: fc.array(fc.record({ service: names, instance: fc.string({ maxLength: 6 }), atMs: number }), {
      maxLength: 6,
    }),
    pastIncidents: fc.array(
      fc.record({
        incidentId: fc.string({ maxLength: 8 }),
        services: fc.array(names, { maxLength: 4 }),
        rootCause: fc.record({ service: names, kind: fc.constantFrom(...KINDS) }),
      }),
      { maxLength: 3 },
    ),
  });

  test('analyst - for any evidence it names a known service, a fault kind and a confidence in [0, 1], and never throws', () => {
    fc.assert(
      fc.property(evidenceArb, (e) => {
        const c = analyseDeterministically(e);
        assert.ok(e.knownServices.includes(c.service), `${c.service} is not known`);
        assert.ok(KINDS.includes(c.kind));
        assert.ok(c.confidence >= 0 && c.confidence <= 1, `confidence ${c.confidence}`);
        assert.ok(c.hypotheses.every((h) => e.knownServices.includes(h.service) && Number.isFinite(h.score)));
        assert.ok(c.evidence.length >= 1 && c.evidence.length <= 100);
        assert.ok(c.evidence.every((s) => typeof s === 'string' && s.length <= 2048));
        assert.deepEqual(analyseDeterministically(e), c);
      }),
      { numRuns: 400 },
    );
  });
});
