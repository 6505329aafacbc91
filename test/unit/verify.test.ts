/**
 * The verification probes on canned Prometheus text and a driven clock: each
 * check judged on the window's increases (not on totals since start), counter
 * resets, missing replicas and missing evidence.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExposition } from '../../agents/collector/index.ts';
import { verify } from '../../agents/executor/index.ts';
import type { TargetScrape, VerifyClock } from '../../agents/executor/index.ts';
import { loadCatalogue, runbookFor } from '../../governance/index.ts';

const MB = 1024 * 1024;
const LE = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'];

/** A replica's state at one scrape: cumulative counters, gauges. */
interface Replica {
  ok?: number;
  errors?: number;
  /** Cumulative observations per bucket bound, keyed by `le` (missing = the previous bucket's). */
  buckets?: Partial<Record<string, number>>;
  rssMb?: number;
  diskMb?: number;
  quotaMb?: number;
  down?: boolean;
}

/** The exposition a fleet replica would serve (the fleet's metric names). */
function exposition(r: Replica): string {
  const lines = [
    '# HELP sentinel_fleet_requests_total Requests served, by HTTP status code',
    '# TYPE sentinel_fleet_requests_total counter',
    `sentinel_fleet_requests_total{code="200"} ${r.ok ?? 0}`,
  ];
  if (r.errors !== undefined) lines.push(`sentinel_fleet_requests_total{code="503"} ${r.errors}`);
  lines.push('# TYPE sentinel_fleet_request_duration_seconds histogram');
  let running = 0;
  for (const le of LE) {
    running = Math.max(running, r.buckets?.[le] ?? running);
    lines.push(`sentinel_fleet_request_duration_seconds_bucket{le="${le}"} ${running}`);
  }
  lines.push(`sentinel_fleet_request_duration_seconds_count ${running}`);
  lines.push(
    '# TYPE process_resident_memory_bytes gauge',
    `process_resident_memory_bytes ${(r.rssMb ?? 80) * MB}`,
  );
  lines.push(
    '# TYPE sentinel_fleet_data_dir_bytes gauge',
    `sentinel_fleet_data_dir_bytes ${(r.diskMb ?? 10) * MB}`,
  );
  lines.push(
    '# TYPE sentinel_fleet_data_dir_quota_bytes gauge',
    `sentinel_fleet_data_dir_quota_bytes ${(r.quotaMb ?? 100) * MB}`,
  );
  return `${lines.join('\n')}\n`;
}

/** A clock that only moves when slept on. */
function drivenClock(): VerifyClock & { slept: number[] } {
  let t = 1_700_000_000_000;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
  };
}

/** A scrape that serves `script[i]` on the i-th call (the last one after that). */
function scripted(
  clock: VerifyClock,
  script: readonly Record<string, Replica>[],
): () => Promise<TargetScrape[]> {
  let i = 0;
  return async () => {
    const step = script[Math.min(i++, script.length - 1)] ?? {};
    return Object.entries(step).map(([instance, r]): TargetScrape => {
      if (r.down) return { instance, ok: false, error: 'connect ECONNREFUSED' };
      return { instance, ok: true, samples: parseExposition(exposition(r), clock.now()).samples };
    });
  };
}

/** Fast requests: every one of `n` lands in (0.025, 0.05]. */
const fast = (n: number, slowBefore = 0): Partial<Record<string, number>> => ({
  '0.025': 0,
  '0.05': n,
  '5': n,
  '10': n + slowBefore,
});

describe('verify', () => {
  test('verify - a healthy window passes every check of the restart runbook, scraping once per interval', async () => {
    const restart = runbookFor(await loadCatalogue(), 'restart').verification;
    const clock = drivenClock();
    const step = (k: number) => ({
      'checkout-0': { ok: 100 * k, errors: k, buckets: fast(101 * k), rssMb: 80 },
      'checkout-1': { ok: 100 * k, errors: 0, buckets: fast(100 * k), rssMb: 90 + (k % 2) * 0.1 },
    });
    const outcome = await verify(restart.checks, {
      scrape: scripted(clock, [step(1), step(2), step(3), step(4), step(5)]),
      windowMs: restart.windowS * 1000,
      intervalMs: 5000,
      clock,
      baseline: { p99LatencyMs: 40 },
    });
    assert.deepEqual(clock.slept, [5000, 5000, 5000, 5000]);
    assert.equal(outcome.scrapes, 5);
    assert.equal(outcome.passed, true, JSON.stringify(outcome.results));
    const byKind = Object.fromEntries(outcome.results.map((r) => [r.check.kind, r]));
    assert.equal(byKind.error_ratio_below?.observed, 4 / 804);
    assert.equal(byKind.replicas_up?.observed, 2);
    // All window observations sit in (25 ms, 50 ms]: PromQL interpolates 25 + 25 × 0.99.
    assert.ok(Math.abs((byKind.p99_latency_below_ms?.observed ?? 0) - 49.75) < 1e-9);
    assert.equal(byKind.p99_latency_below_ms?.threshold, 60);
  });

  test('verify - requests that queued during the fault and finish while the action settles are not held against it', async () => {
    const check = [{ kind: 'p99_latency_below_ms' as const, value: 500 }];
    // Just after the action: 40 requests that waited in the exhausted pool finish in (2.5 s, 5 s].
    const backlog = { a: { ok: 140, buckets: { '0.05': 100, '5': 140 } } };
    const after = (k: number) => ({
      a: { ok: 140 + 100 * k, buckets: { '0.05': 100 + 100 * k, '5': 140 + 100 * k } },
    });
    const settled = drivenClock();
    const kept = await verify(check, {
      scrape: scripted(settled, [backlog, after(1), after(2)]),
      settleMs: 5000,
      windowMs: 10_000,
      intervalMs: 5000,
      clock: settled,
    });
    assert.deepEqual(settled.slept, [5000, 5000, 5000], 'settles, then scrapes once per interval');
    assert.equal(kept.passed, true, JSON.stringify(kept.results));
    // Without settling, the window opens before the backlog finished and its p99 is the backlog's.
    const hasty = drivenClock();
    const judged = await verify(check, {
      scrape: scripted(hasty, [{ a: { ok: 100, buckets: { '0.05': 100 } } }, backlog, after(1)]),
      windowMs: 10_000,
      intervalMs: 5000,
      clock: hasty,
    });
    assert.equal(judged.passed, false);
  });

  test('verify - judges the error ratio on the increase over the window, not the total since start', async () => {
    const clock = drivenClock();
    const outcome = await verify([{ kind: 'error_ratio_below', value: 0.05 }], {
      // 900 errors before the window; 20 of the 200 requests inside it fail.
      scrape: scripted(clock, [{ a: { ok: 100, errors: 900 } }, { a: { ok: 280, errors: 920 } }]),
      windowMs: 10_000,
      intervalMs: 10_000,
      clock,
    });
    assert.equal(outcome.results[0]?.observed, 0.1);
    assert.equal(outcome.passed, false);
    assert.match(outcome.results[0]?.detail ?? '', /20 of 200 requests failed/);
  });

  test('verify - a replica restarted inside the window counts what it served since', async () => {
    const clock = drivenClock();
    const outcome = await verify([{ kind: 'error_ratio_below', value: 0.05 }], {
      scrape: scripted(clock, [
        { a: { ok: 1000, errors: 10 } },
        { a: { ok: 1090, errors: 20 } },
        // Restarted: counters start again from zero.
        { a: { ok: 50, errors: 0 } },
        { a: { ok: 150, errors: 0 } },
      ]),
      windowMs: 15_000,
      intervalMs: 5000,
      clock,
    });
    // 90 + 10 in the first interval, 50 after the restart, 100 after that: 10 failures of 250.
    assert.equal(outcome.results[0]?.observed, 10 / 250);
    assert.equal(outcome.passed, true);
  });

  test('verify - p99 comes from the bucket increases, against the baseline when there is one', async () => {
    const clock = drivenClock();
    // 1000 slow requests (5–10 s) before the window, only fast ones inside it.
    const script = [
      { a: { ok: 1000, buckets: fast(0, 1000) } },
      { a: { ok: 1100, buckets: fast(100, 1000) } },
    ];
    const check = { kind: 'p99_latency_below_ms', value: 500, baselineFactor: 1.5 } as const;
    const absolute = await verify([check], { scrape: scripted(clock, script), windowMs: 5000, clock });
    assert.ok(Math.abs((absolute.results[0]?.observed ?? 0) - 49.75) < 1e-9);
    assert.equal(absolute.results[0]?.threshold, 500);
    assert.equal(absolute.passed, true);
    const relative = await verify([check], {
      scrape: scripted(clock, script),
      windowMs: 5000,
      clock,
      baseline: { p99LatencyMs: 20 },
    });
    assert.equal(relative.results[0]?.threshold, 30);
    assert.equal(relative.passed, false);
  });

  test('verify - memory growing faster than the bound fails and names the replica', async () => {
    const clock = drivenClock();
    const leak = (k: number) => ({ steady: { rssMb: 100 }, leaky: { rssMb: 100 + 10 * 5 * k } });
    const outcome = await verify([{ kind: 'memory_not_growing', value: 2 }], {
      scrape: scripted(clock, [leak(0), leak(1), leak(2), leak(3)]),
      windowMs: 15_000,
      intervalMs: 5000,
      clock,
    });
    assert.equal(outcome.passed, false);
    assert.ok(Math.abs((outcome.results[0]?.observed ?? 0) - 10) < 1e-9);
    assert.match(outcome.results[0]?.detail ?? '', /^leaky grows 10\.00 MB\/s/);
  });

  test('verify - replicas_up fails when a replica is down at the end, naming it', async () => {
    const clock = drivenClock();
    const outcome = await verify([{ kind: 'replicas_up' }], {
      scrape: scripted(clock, [
        { a: {}, b: {} },
        { a: {}, b: { down: true } },
      ]),
      windowMs: 5000,
      clock,
    });
    assert.deepEqual(
      [outcome.passed, outcome.results[0]?.observed, outcome.results[0]?.detail],
      [false, 1, 'down: b'],
    );
  });

  test('verify - disk ratio is judged on the fullest replica at the end of the window', async () => {
    const clock = drivenClock();
    const check = [{ kind: 'disk_below_ratio', value: 0.8 }] as const;
    const full = await verify(check, {
      scrape: scripted(clock, [
        { a: { diskMb: 10 }, b: { diskMb: 95 } },
        { a: { diskMb: 10 }, b: { diskMb: 90 } },
      ]),
      windowMs: 5000,
      clock,
    });
    assert.deepEqual([full.passed, full.results[0]?.observed], [false, 0.9]);
    const cleared = await verify(check, {
      scrape: scripted(clock, [{ a: { diskMb: 95 } }, { a: { diskMb: 1 } }]),
      windowMs: 5000,
      clock,
    });
    assert.deepEqual([cleared.passed, cleared.results[0]?.observed], [true, 0.01]);
  });

  test('verify - no evidence fails: no traffic, no latency data, every replica down', async () => {
    const clock = drivenClock();
    const outcome = await verify(
      [
        { kind: 'error_ratio_below', value: 0.05 },
        { kind: 'p99_latency_below_ms', value: 100 },
        { kind: 'memory_not_growing' },
      ],
      { scrape: scripted(clock, [{ a: { down: true } }]), windowMs: 10_000, intervalMs: 5000, clock },
    );
    assert.equal(outcome.passed, false);
    assert.deepEqual(
      outcome.results.map((r) => [r.passed, r.observed]),
      [
        [false, null],
        [false, null],
        [false, null],
      ],
    );
  });

  test('verify - an action with no checks (escalate) passes without scraping', async () => {
    const clock = drivenClock();
    let scrapes = 0;
    const outcome = await verify([], {
      scrape: async () => {
        scrapes++;
        return [];
      },
      windowMs: 10_000,
      clock,
    });
    assert.deepEqual([outcome.passed, outcome.scrapes, scrapes, clock.slept.length], [true, 0, 0, 0]);
  });
});
