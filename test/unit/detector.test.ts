import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import {
  benchResults,
  CounterRate,
  DETECTOR_COMPONENTS,
  histogramQuantile,
  NoRateReason,
  runNab,
  scoreNab,
  SeriesDetector,
} from '../../agents/detector/index.ts';
import { normalFrom, uniform } from '../support/random.ts';

const root = path.resolve(import.meta.dirname, '..', '..');

/** Standard normal draws (Box-Muller) from a seeded generator. */
function normal(seed: number): () => number {
  return normalFrom(uniform(seed));
}

function scores(values: readonly number[]): number[] {
  const d = new SeriesDetector();
  return values.map((v) => d.update(v));
}

const max = (xs: readonly number[]) => xs.reduce((a, b) => Math.max(a, b), 0);

/** Rows a detector may still be learning in; NAB gives 15 % of a file, at most 750 rows. */
const WARM_UP = 600;
/** Well above anything a quiet series reaches, well below what a clear anomaly reaches. */
const HIGH = 0.5;

const anyValue = fc.oneof(
  fc.double(),
  fc.constantFrom(Number.NaN, Infinity, -Infinity, 1e308, -1e308, 5e-324, 0, -0),
  fc.integer({ min: -5, max: 5 }),
);

describe('detector - scores', () => {
  test('detector - every score is in [0, 1] whatever the input', () => {
    fc.assert(
      fc.property(fc.array(anyValue, { minLength: 1, maxLength: 700 }), (values) => {
        for (const s of scores(values)) assert.ok(s >= 0 && s <= 1, `score ${s}`);
      }),
      { numRuns: 60 },
    );
  });

  test('detector - the score of a row does not change when later rows change (streaming)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 400 }),
        fc.array(anyValue, { minLength: 1, maxLength: 100 }),
        fc.array(anyValue, { minLength: 1, maxLength: 100 }),
        (prefix, a, b) => {
          const first = scores([...prefix, ...a]).slice(0, prefix.length);
          const second = scores([...prefix, ...b]).slice(0, prefix.length);
          assert.deepEqual(first, second);
        },
      ),
      { numRuns: 40 },
    );
  });

  test('detector - NaN and Infinity score 0 and leave the state as it was', () => {
    const n = normal(7);
    const clean = Array.from({ length: 1500 }, () => 10 + n());
    const dirty: number[] = [];
    clean.forEach((v, i) => {
      dirty.push(v);
      if (i % 97 === 0) dirty.push(Number.NaN, Infinity, -Infinity);
    });
    const d = new SeriesDetector();
    const got: number[] = [];
    for (const v of dirty) {
      const s = d.update(v);
      if (Number.isFinite(v)) got.push(s);
      else assert.equal(s, 0);
    }
    assert.deepEqual(got, scores(clean));
    assert.equal(d.rows, clean.length);
  });

  test('detector - huge values do not throw and do not break the detector for what follows', () => {
    const n = normal(8);
    const values = Array.from({ length: 4000 }, (_, i) =>
      i === 2600 ? 1e308 : i === 2601 ? -1e308 : 10 + n(),
    );
    const s = scores(values);
    assert.ok(s[2600]! > HIGH, `the huge value itself is an anomaly: ${s[2600]}`);
    assert.ok(s.every((x) => Number.isFinite(x)));
    assert.ok(max(s.slice(3100)) < HIGH, `quiet again later: ${max(s.slice(3100))}`);
  });
});

describe('detector - what it flags and what it does not', () => {
  test('detector - a flat line gives no score at all', () => {
    assert.equal(max(scores(Array.from({ length: 3000 }, () => 42))), 0);
  });

  test('detector - a clean daily pattern with noise gives no high score after warm-up', () => {
    for (const seed of [1, 2, 3]) {
      const n = normal(seed);
      const s = scores(
        Array.from({ length: 4000 }, (_, i) => 50 + 20 * Math.sin((2 * Math.PI * i) / 288) + n()),
      );
      assert.ok(max(s.slice(WARM_UP)) < HIGH, `seed ${seed}: ${max(s.slice(WARM_UP))}`);
    }
  });

  test('detector - plain noise gives no high score after warm-up', () => {
    for (const seed of [4, 5, 6]) {
      const n = normal(seed);
      const s = scores(Array.from({ length: 4000 }, () => 10 + n()));
      assert.ok(max(s.slice(WARM_UP)) < HIGH, `seed ${seed}: ${max(s.slice(WARM_UP))}`);
    }
  });

  test('detector - a clear level shift is flagged within a few rows', () => {
    for (const seed of [1, 2, 3]) {
      const n = normal(seed);
      const s = scores(Array.from({ length: 3500 }, (_, i) => (i < 3000 ? 10 : 20) + n()));
      const before = max(s.slice(WARM_UP, 3000));
      const at = max(s.slice(3000, 3005));
      assert.ok(at > HIGH && at > before, `seed ${seed}: ${at} after, ${before} before`);
    }
  });

  test('detector - a spike is flagged on its row', () => {
    for (const seed of [1, 2, 3]) {
      const n = normal(seed);
      const s = scores(Array.from({ length: 3200 }, (_, i) => 10 + n() + (i === 3100 ? 10 : 0)));
      assert.ok(s[3100]! > HIGH && s[3100]! > max(s.slice(WARM_UP, 3100)), `seed ${seed}: ${s[3100]}`);
    }
  });

  test('detector - a daily pattern that breaks is flagged though every value is ordinary', () => {
    const n = normal(9);
    // The daily bump is missing on day 12; every value stays within the usual range.
    const values = Array.from({ length: 4000 }, (_, i) => {
      const day = Math.floor(i / 288);
      const phase = i % 288;
      const bump = day !== 12 && phase >= 100 && phase < 160 ? 30 : 0;
      return 10 + bump + 0.5 * n();
    });
    const s = scores(values);
    const missing = 12 * 288 + 100;
    assert.ok(max(s.slice(missing, missing + 30)) > HIGH, `${max(s.slice(missing, missing + 30))}`);
    assert.ok(max(s.slice(WARM_UP, 12 * 288)) < HIGH);
  });

  test('detector - after an alarm, more of the same event stays quiet', () => {
    const n = normal(10);
    const s = scores(Array.from({ length: 3400 }, (_, i) => (i < 3000 ? 10 : 20) + n()));
    const first = s.findIndex((x, i) => i >= 3000 && x > HIGH);
    assert.ok(first >= 3000 && first < 3005);
    assert.ok(max(s.slice(first + 1)) < HIGH, `repeats: ${max(s.slice(first + 1))}`);
  });

  test('detector - the surprises explain the score by component', () => {
    const d = new SeriesDetector();
    const n = normal(11);
    for (let i = 0; i < 3000; i++) d.update(10 + n());
    d.update(40);
    assert.deepEqual(Object.keys(d.surprises), [...DETECTOR_COMPONENTS]);
    assert.ok(d.surprises.value > 5, `value ${d.surprises.value}`);
  });

  test('detector - memory per series is fixed at construction', () => {
    const d = new SeriesDetector();
    const before = d.bytes;
    const n = normal(12);
    for (let i = 0; i < 20_000; i++) d.update(50 + 20 * Math.sin(i / 40) + n());
    assert.equal(d.bytes, before);
    assert.ok(before < 70_000, `${before} bytes`);
  });
});

describe('detector - counter rates', () => {
  test('detector - a counter reset is not an anomaly', () => {
    const n = normal(13);
    const rate = new CounterRate();
    const d = new SeriesDetector();
    let counter = 0;
    const out: number[] = [];
    let resetAt = -1;
    for (let i = 0; i < 3000; i++) {
      const increase = 15 * (100 + 5 * n());
      // The process restarts just after scrape 2500: its counter starts again from 0.
      counter = i === 2501 ? increase : counter + increase;
      const r = rate.update(i * 15_000, counter);
      if (r.type !== 'rate') continue;
      if (r.reset) resetAt = i;
      assert.ok(r.perSecond > 0, `rate ${r.perSecond} at ${i}`);
      out[i] = d.update(r.perSecond);
    }
    assert.equal(resetAt, 2501);
    assert.ok(out[2501]! < HIGH, `score at the reset ${out[2501]}`);
  });

  test('detector - counter rates: increase over time, resets from zero, out of order and gaps skipped', () => {
    const r = new CounterRate({ staleAfterMs: 60_000 });
    assert.deepEqual(r.update(0, 100), { type: 'none', reason: NoRateReason.first });
    assert.deepEqual(r.update(10_000, 150), { type: 'rate', perSecond: 5, reset: false });
    assert.deepEqual(r.update(10_000, 160), { type: 'none', reason: NoRateReason.outOfOrder });
    assert.deepEqual(r.update(5_000, 120), { type: 'none', reason: NoRateReason.outOfOrder });
    assert.deepEqual(r.update(20_000, 30), { type: 'rate', perSecond: 3, reset: true });
    assert.deepEqual(r.update(25_000, Number.NaN), { type: 'none', reason: NoRateReason.notFinite });
    assert.deepEqual(r.update(Number.NaN, 40), { type: 'none', reason: NoRateReason.notFinite });
    assert.deepEqual(r.update(30_000, 40), { type: 'rate', perSecond: 1, reset: false });
    assert.deepEqual(r.update(200_000, 50), { type: 'none', reason: NoRateReason.afterGap });
    assert.deepEqual(r.update(210_000, 70), { type: 'rate', perSecond: 2, reset: false });
  });
});

describe('detector - histogram quantiles', () => {
  const buckets = [
    { le: '0.1', count: 10 },
    { le: '0.5', count: 30 },
    { le: '1', count: 40 },
    { le: '+Inf', count: 50 },
  ];

  test('detector - histogram quantiles interpolate inside the bucket like histogram_quantile', () => {
    // rank 25 falls in (0.1, 0.5], 15 of its 20: 0.1 + 0.4 * 15 / 20.
    assert.ok(Math.abs(histogramQuantile(0.5, buckets) - 0.4) < 1e-12);
    // rank 5 in the first bucket, interpolated from 0.
    assert.ok(Math.abs(histogramQuantile(0.1, buckets) - 0.05) < 1e-12);
    // rank 45 falls in +Inf: the highest finite bound.
    assert.equal(histogramQuantile(0.9, buckets), 1);
    // order of the input does not matter, numbers work as bounds too
    assert.ok(Math.abs(histogramQuantile(0.5, [...buckets].reverse()) - 0.4) < 1e-12);
    assert.equal(
      histogramQuantile(0.75, [
        { le: 1, count: 5 },
        { le: Infinity, count: 5 },
      ]),
      0.75,
    );
  });

  test('detector - histogram quantiles follow PromQL on the edge cases', () => {
    assert.equal(histogramQuantile(-0.1, buckets), -Infinity);
    assert.equal(histogramQuantile(1.1, buckets), Infinity);
    assert.ok(Number.isNaN(histogramQuantile(Number.NaN, buckets)));
    assert.ok(Number.isNaN(histogramQuantile(0.5, buckets.slice(0, 3))), 'no +Inf bucket');
    assert.ok(Number.isNaN(histogramQuantile(0.5, [{ le: '+Inf', count: 3 }])), 'a single bucket');
    assert.ok(
      Number.isNaN(
        histogramQuantile(
          0.5,
          buckets.map((b) => ({ ...b, count: 0 })),
        ),
      ),
      'no observations',
    );
    // A first bucket with a bound <= 0 returns that bound.
    assert.equal(
      histogramQuantile(0.2, [
        { le: -1, count: 5 },
        { le: 0, count: 8 },
        { le: '+Inf', count: 10 },
      ]),
      -1,
    );
  });

  test('detector - histogram quantiles survive inconsistent buckets', () => {
    // A dip in the cumulative counts is raised to the running maximum; equal bounds are summed.
    const dip = [
      { le: '0.1', count: 10 },
      { le: '0.5', count: 8 },
      { le: '1', count: 40 },
      { le: '+Inf', count: 40 },
    ];
    assert.ok(Math.abs(histogramQuantile(0.5, dip) - (0.5 + 0.5 * (10 / 30))) < 1e-12);
    const split = [
      { le: '0.1', count: 4 },
      { le: '0.1', count: 6 },
      { le: '+Inf', count: 10 },
    ];
    assert.ok(Math.abs(histogramQuantile(0.5, split) - 0.05) < 1e-12);
    // A NaN count or bound is ignored, not propagated.
    const withNaN = [...buckets, { le: '5', count: Number.NaN }, { le: 'x', count: 3 }];
    assert.ok(Math.abs(histogramQuantile(0.5, withNaN) - 0.4) < 1e-12);
  });
});

describe('detector - NAB runner and scorer together', () => {
  const files = [
    'artificialWithAnomaly/art_daily_jumpsup.csv',
    'realAWSCloudwatch/ec2_network_in_257a54.csv',
    'realKnownCause/rogue_agent_key_hold.csv',
  ];

  test('detector - the runner writes timestamp,value,anomaly_score per row and the scorer reads it back', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nab-run-'));
    try {
      const data = path.join(dir, 'data');
      const windows = JSON.parse(readFileSync(path.join(root, 'data/nab/windows.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      for (const f of files) {
        mkdirSync(path.join(data, path.dirname(f)), { recursive: true });
        copyFileSync(path.join(root, 'data/nab/data', f), path.join(data, f));
      }
      writeFileSync(
        path.join(dir, 'windows.json'),
        JSON.stringify(Object.fromEntries(files.map((f) => [f, windows[f]]))),
      );
      const out = path.join(dir, 'out');
      const summary = runNab({ dataDir: data, outDir: out });
      assert.equal(summary.files, 3);

      for (const f of files) {
        const [category, name] = f.split('/') as [string, string];
        assert.deepEqual(readdirSync(path.join(out, category)), [`sentinel_${name}`]);
        const input = readFileSync(path.join(data, f), 'utf8').trim().split(/\r?\n/);
        const result = readFileSync(path.join(out, category, `sentinel_${name}`), 'utf8')
          .trim()
          .split('\n');
        assert.equal(result[0], 'timestamp,value,anomaly_score');
        assert.equal(result.length, input.length);
        for (let i = 1; i < result.length; i++) {
          const [ts, value, score] = result[i]!.split(',');
          assert.equal(`${ts},${value}`, input[i]);
          const s = Number(score);
          assert.ok(s >= 0 && s <= 1, `${f}:${i + 1} score ${score}`);
        }
      }

      const scores = scoreNab(out, path.join(dir, 'windows.json'));
      assert.deepEqual(Object.keys(benchResults(scores)), [
        'standard',
        'reward_low_fp_rate',
        'reward_low_fn_rate',
      ]);
      for (const p of Object.values(scores)) {
        assert.ok(p.normalized >= 0 && p.normalized <= 100);
        assert.equal(p.files.length, 3);
      }

      // The CLI prints the same scores as the last line of stdout.
      const script = `
        import { Command } from 'commander';
        import { registerNab } from './cli/nab.ts';
        const program = new Command('sentinel');
        registerNab(program);
        await program.parseAsync(process.argv.slice(1), { from: 'user' });
      `;
      const cli = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          script,
          'nab',
          'score',
          '--results',
          out,
          '--windows',
          path.join(dir, 'windows.json'),
        ],
        { cwd: root, encoding: 'utf8' },
      );
      assert.equal(cli.status, 0, cli.stderr);
      const last = cli.stdout.trim().split('\n').at(-1)!;
      assert.deepEqual(JSON.parse(last), { bench: 'nab', results: benchResults(scores) });
      assert.match(cli.stderr, /standard profile per file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
