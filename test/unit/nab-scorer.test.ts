import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import {
  benchResults,
  NabInputError,
  probationaryLength,
  readResults,
  readWindows,
  scaledSigmoid,
  scoreCorpus,
} from '../../agents/detector/index.ts';
import type { ProfileScore, ScoredSeries } from '../../agents/detector/index.ts';

const T0 = Date.UTC(2014, 3, 1);
const STEP_MS = 5 * 60_000;
/** S(-1): a detection on a window's first row, the reward every other one is divided by. */
const MAX_TP = 0.9866142981514303;

/** A file of `rows` rows, windows given as row ranges, detections as row → score (others score 0). */
function series(
  rows: number,
  windows: [number, number][],
  detections: Record<number, number>,
  name = 'cat/file.csv',
): ScoredSeries {
  const timestamps = Array.from({ length: rows }, (_, i) => T0 + i * STEP_MS);
  return {
    name,
    timestamps,
    scores: timestamps.map((_, i) => detections[i] ?? 0),
    windows: windows.map(([a, b]) => [timestamps[a]!, timestamps[b]!] as const),
  };
}

function standard(corpus: ScoredSeries[]) {
  return scoreCorpus(corpus).standard!;
}

describe('nab scorer - the scaled sigmoid and the probation', () => {
  test('nab scorer - the sigmoid is 0.98661 at a window start, 0.84828 half way, 0 at its end, -1 far after', () => {
    assert.ok(Math.abs(scaledSigmoid(-1) - 0.98661) < 1e-5);
    assert.ok(Math.abs(scaledSigmoid(-0.5) - 0.84828) < 1e-5);
    assert.equal(scaledSigmoid(0), 0);
    assert.ok(Math.abs(scaledSigmoid(1) + 0.98661) < 1e-5);
    // NAB cuts off strictly above 3 (`if relativePositionInWindow > 3.0`): S(3) is still the sigmoid.
    assert.equal(scaledSigmoid(3), 2 / (1 + Math.exp(15)) - 1);
    assert.ok(Math.abs(scaledSigmoid(3) + 0.9999993881955461) < 1e-16);
    assert.equal(scaledSigmoid(3.000001), -1);
    assert.equal(scaledSigmoid(1e9), -1);
  });

  test('nab scorer - the probation is 15 % of a file, at most 750 rows', () => {
    assert.equal(probationaryLength(1000), 150);
    assert.equal(probationaryLength(4032), 604);
    assert.equal(probationaryLength(22695), 750);
  });
});

describe('nab scorer - one window', () => {
  test('nab scorer - a detection on the first row of the window scores +1 and normalises to 100', () => {
    const s = standard([series(1000, [[500, 599]], { 500: 1 })]);
    assert.ok(Math.abs(s.raw - 1) < 1e-12);
    assert.equal(s.nullScore, -1);
    assert.equal(s.perfectScore, 1);
    assert.ok(Math.abs(s.normalized - 100) < 1e-9);
    assert.deepEqual(
      { detected: s.files[0]!.detectedWindows, fp: s.files[0]!.falsePositives },
      { detected: 1, fp: 0 },
    );
  });

  test('nab scorer - a detector that never fires scores -FN weight per window and normalises to 0', () => {
    const scores = scoreCorpus([series(1000, [[500, 599]], {})]);
    assert.equal(scores.standard!.raw, -1);
    assert.equal(scores.standard!.normalized, 0);
    assert.equal(scores.reward_low_fn_rate!.raw, -2);
    assert.equal(scores.reward_low_fn_rate!.normalized, 0);
  });

  test('nab scorer - half way into a window a detection is worth S(-0.5) / S(-1), on the last row almost nothing', () => {
    // Row 550 of [500, 599] (width 100) sits at -(599 - 550 + 1) / 100 = -0.5.
    const middle = standard([series(1000, [[500, 599]], { 550: 1 })]);
    assert.ok(Math.abs(middle.raw - 0.848284 / MAX_TP) < 1e-5);
    // The last row sits at -1 / 100: 2 / (1 + e^-0.05) - 1 = 0.024995.
    const last = standard([series(1000, [[500, 599]], { 599: 1 })]);
    assert.ok(Math.abs(last.raw - 0.024995 / MAX_TP) < 1e-5);
    assert.ok(Math.abs(last.normalized - (100 * (last.raw + 1)) / 2) < 1e-9);
  });

  test('nab scorer - only the first detection in a window counts', () => {
    const twice = standard([series(1000, [[500, 599]], { 500: 1, 550: 1, 599: 1 })]);
    assert.ok(Math.abs(twice.raw - 1) < 1e-12);
    assert.equal(twice.files[0]!.falsePositives, 0);
  });
});

describe('nab scorer - false positives', () => {
  test('nab scorer - a false positive right after a window costs less than one far after it', () => {
    // Row 401 is |401 - 399| / (100 - 1) = 0.0202 window widths past [300, 399]:
    // S = 2 / (1 + e^0.101) - 1 = -0.050457, so it costs 0.11 * 0.050457.
    const near = standard([series(1000, [[300, 399]], { 300: 1, 401: 1 })]);
    assert.ok(Math.abs(near.raw - (1 - 0.11 * 0.050457)) < 1e-6);
    // Row 900 is 5 widths past: the full 0.11.
    const far = standard([series(1000, [[300, 399]], { 300: 1, 900: 1 })]);
    assert.ok(Math.abs(far.raw - 0.89) < 1e-12);
    // One width past (row 498), S(1) = -0.98661.
    const oneWidth = standard([series(1000, [[300, 399]], { 300: 1, 498: 1 })]);
    assert.ok(Math.abs(oneWidth.raw - (1 - 0.11 * 0.986614)) < 1e-6);
    assert.ok(near.raw > oneWidth.raw && oneWidth.raw > far.raw);
  });

  test('nab scorer - a false positive before any window costs the full FP weight of the profile', () => {
    const scores = scoreCorpus([series(1000, [[500, 599]], { 200: 1, 500: 1 })]);
    assert.ok(Math.abs(scores.standard!.raw - 0.89) < 1e-12);
    assert.ok(Math.abs(scores.reward_low_fp_rate!.raw - 0.78) < 1e-12);
    assert.equal(scores.standard!.files[0]!.falsePositives, 1);
  });

  test('nab scorer - detections in the probationary period are not scored', () => {
    const s = standard([series(1000, [[500, 599]], { 10: 1, 149: 1, 500: 1 })]);
    assert.ok(Math.abs(s.raw - 1) < 1e-12);
    assert.equal(s.files[0]!.falsePositives, 0);
  });

  test('nab scorer - a file without windows loses only the FP weight per detection', () => {
    const s = standard([
      series(1000, [[500, 599]], { 500: 1 }),
      series(1000, [], { 700: 1 }, 'cat/quiet.csv'),
    ]);
    assert.ok(Math.abs(s.raw - 0.89) < 1e-12);
    assert.ok(Math.abs(s.files[1]!.score + 0.11) < 1e-12);
  });
});

describe('nab scorer - the threshold sweep', () => {
  test('nab scorer - the threshold is the one with the best corpus score', () => {
    // A true positive at 0.9 and a far false positive at 0.5: the best threshold keeps only the first.
    const s = standard([series(1000, [[500, 599]], { 500: 0.9, 900: 0.5 })]);
    assert.equal(s.threshold, 0.9);
    assert.ok(Math.abs(s.raw - 1) < 1e-12);
    // Lowering the threshold to reach an earlier, weaker detection pays when it is early enough.
    const early = standard([series(1000, [[500, 599]], { 500: 0.4, 590: 0.9 })]);
    assert.equal(early.threshold, 0.4);
    assert.ok(Math.abs(early.raw - 1) < 1e-12);
  });

  test('nab scorer - one threshold serves the whole corpus; a missed file costs its windows', () => {
    const s = standard([
      series(1000, [[500, 599]], { 500: 1 }, 'a/hit.csv'),
      series(1000, [[500, 599]], {}, 'a/miss.csv'),
    ]);
    assert.ok(Math.abs(s.raw - 0) < 1e-12);
    assert.ok(Math.abs(s.normalized - 50) < 1e-9);
    assert.deepEqual(
      s.files.map((f) => f.detectedWindows),
      [1, 0],
    );
  });

  test('nab scorer - any detector normalises into [0, 100]: never worse than the null, never better than perfect', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 400, maxLength: 400 }),
        (scores) => {
          const base = series(
            400,
            [
              [100, 139],
              [250, 289],
            ],
            {},
          );
          const all = scoreCorpus([{ ...base, scores }]);
          for (const p of Object.values(all)) {
            assert.ok(p.normalized >= -1e-9 && p.normalized <= 100 + 1e-9, `${p.normalized}`);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

/** |actual - expected| <= tol, with both in the message. */
function near(actual: number, expected: number, tol = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${actual} is not ${expected} (±${tol})`);
}

/**
 * Cases worked by hand from NAB v1.1's formulas (`nab/sweeper.py`,
 * `nab/optimizer.py`, `nab/scorer.py`, `Runner.normalize`). S(x) =
 * 2 / (1 + e^(5x)) - 1 = -tanh(2.5x); a TP earns S(x) / S(-1) * tpWeight,
 * an FP S(x) * fpWeight. The literals were also produced by a line-by-line
 * Python transcription of those NAB files on the same inputs.
 */
describe('nab scorer - hand-computed from NAB v1.1', () => {
  test('nab scorer - TP at -0.8, FP after the window, FP before it, probation and second detections ignored', () => {
    // 1000 rows: probation floor(0.15 * 1000) = 150. Window rows [500, 599], w = 100.
    // Row 100: probation, not scored. Row 300: before any window, -fpWeight.
    // Row 520: -(599 - 520 + 1) / 100 = -0.8, worth tanh(2) / tanh(2.5) = 0.97711.
    // Row 560: a later detection in the same window, not counted.
    // Row 700: |599 - 700| / (100 - 1) = 101 / 99 past the window, costs fpWeight * tanh(2.5 * 101 / 99).
    const all = scoreCorpus([series(1000, [[500, 599]], { 100: 1, 300: 1, 520: 1, 560: 1, 700: 1 })]);
    const tp = Math.tanh(2) / Math.tanh(2.5);
    const far = Math.tanh((2.5 * 101) / 99);
    near(all.standard!.raw, tp - 0.11 - 0.11 * far);
    near(all.standard!.raw, 0.7584386594560436);
    near(all.reward_low_fp_rate!.raw, 0.5397704779894827);
    near(all.reward_low_fn_rate!.raw, 0.7584386594560436);
    assert.equal(all.standard!.threshold, 1);
    // Null: never firing costs -fnWeight for the one window; perfect: tpWeight for it.
    assert.deepEqual(
      Object.values(all).map((p) => [p.nullScore, p.perfectScore]),
      [
        [-1, 1],
        [-1, 1],
        [-2, 1],
      ],
    );
    near(all.standard!.normalized, 87.92193297280218, 1e-9);
    near(all.reward_low_fp_rate!.normalized, 76.98852389947413, 1e-9);
    near(all.reward_low_fn_rate!.normalized, 91.94795531520145, 1e-9);
    assert.deepEqual(
      { detected: all.standard!.files[0]!.detectedWindows, fp: all.standard!.files[0]!.falsePositives },
      { detected: 1, fp: 2 },
    );
  });

  test('nab scorer - an FP exactly three widths after a window costs S(3), not the full FP weight', () => {
    // Window [500, 510], w - 1 = 10: row 540 is at 30 / 10 = 3, row 541 at 3.1.
    const at3 = standard([series(1000, [[500, 510]], { 500: 1, 540: 1 })]);
    near(at3.raw, 1 - 0.11 * Math.tanh(7.5), 1e-15);
    near(at3.raw, 0.8900000672984899, 1e-15);
    assert.notEqual(at3.raw, 0.89);
    const past3 = standard([series(1000, [[500, 510]], { 500: 1, 541: 1 })]);
    near(past3.raw, 0.89, 1e-15);
  });

  test('nab scorer - windows in the probation: unscored there, but the perfect score counts them all', () => {
    // Probation 150 rows. [20, 39] lies wholly inside it: no FN, no reward, but it is one of the 3
    // windows NAB's perfect score counts. [100, 199] is scored from row 150 on, which sits at
    // -(199 - 150 + 1) / 100 = -0.5: tanh(1.25) / tanh(2.5). Row 500 opens [500, 599]: +1.
    const all = scoreCorpus([
      series(
        1000,
        [
          [20, 39],
          [100, 199],
          [500, 599],
        ],
        { 120: 1, 150: 1, 500: 1 },
      ),
    ]);
    const s = all.standard!;
    near(s.raw, Math.tanh(1.25) / Math.tanh(2.5) + 1);
    near(s.raw, 1.8597925669097837);
    assert.equal(s.nullScore, -2);
    assert.equal(s.perfectScore, 3);
    near(s.normalized, 77.19585133819568, 1e-9);
    near(all.reward_low_fn_rate!.normalized, 83.71132238442547, 1e-9);
  });

  test("nab scorer - the null score is NAB's null detector at its best threshold, not always -FN per window", () => {
    // 20 rows, probation floor(3) = 3, window [3, 15] (w = 13) then rows 16..19 after it.
    // NAB's null detector scores 0.5 everywhere; firing everywhere takes the window on its first
    // row (+1) and pays 0.11 * tanh(2.5 k / 12) for rows 15 + k: better than staying silent (-1).
    const s = standard([series(20, [[3, 15]], { 9: 1 })]);
    let fp = 0;
    for (let k = 1; k <= 4; k++) fp += Math.tanh((2.5 * k) / 12);
    near(s.nullScore, 1 - 0.11 * fp);
    near(s.nullScore, 0.7980014167877115);
    // Row 9 is at -(15 - 9 + 1) / 13 = -7/13.
    near(s.raw, Math.tanh((2.5 * 7) / 13) / Math.tanh(2.5));
    near(s.normalized, 43.063270470521786, 1e-9);
  });

  test('nab scorer - among thresholds with the same corpus score NAB keeps the highest', () => {
    // At 0.9 the window is taken on its first row; at 0.6 a later detection adds nothing.
    const s = standard([series(1000, [[500, 599]], { 500: 0.9, 550: 0.6 })]);
    assert.equal(s.threshold, 0.9);
    near(s.raw, 1);
  });

  test("nab scorer - the bench figure is rounded as NAB prints it ('%.2f': the exact binary value, ties to even)", () => {
    const r = benchResults(
      Object.fromEntries(
        [68.985, 0.125, 0.375, -0.125, 57.3146, 75.08265].map((x, i) => [
          `p${i}`,
          { normalized: x } as ProfileScore,
        ]),
      ),
    );
    // 68.985 is 68.98499… as a double; 0.125 and 0.375 are exact ties.
    assert.deepEqual(Object.values(r), [68.98, 0.12, 0.38, -0.12, 57.31, 75.08]);
  });
});

describe('nab scorer - reading files', () => {
  test('nab scorer - a bad windows file is an error naming the file and the line', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nab-scorer-'));
    try {
      const file = path.join(dir, 'windows.json');
      writeFileSync(file, '{\n  "a/x.csv": [],\n  "a/y.csv": [["2014-04-01 00:00:00", "yesterday"]]\n}\n');
      assert.throws(
        () => readWindows(file),
        (err: unknown) =>
          err instanceof NabInputError && err.line === 3 && err.message.startsWith(`${file}:3:`),
      );
      writeFileSync(file, '{"a/x.csv": [["2014-04-01 00:00:00"]]}');
      assert.throws(() => readWindows(file), /windows\.json:1: a\/x\.csv\.0/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('nab scorer - a result row with a score outside [0, 1] is an error naming the file and the line', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nab-scorer-'));
    try {
      writeFileSync(path.join(dir, 'windows.json'), '{"cat/x.csv": []}');
      mkdirSync(path.join(dir, 'results', 'cat'), { recursive: true });
      const result = path.join(dir, 'results', 'cat', 'sentinel_x.csv');
      writeFileSync(
        result,
        'timestamp,value,anomaly_score\n2014-04-01 00:00:00,1,0.2\n2014-04-01 00:05:00,1,1.5\n',
      );
      assert.throws(
        () => readResults(path.join(dir, 'results'), path.join(dir, 'windows.json')),
        (err: unknown) => err instanceof NabInputError && err.file === result && err.line === 3,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('nab scorer - a file listed in the windows without a result file is an error', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nab-scorer-'));
    try {
      writeFileSync(path.join(dir, 'windows.json'), '{"cat/x.csv": []}');
      mkdirSync(path.join(dir, 'results'));
      assert.throws(
        () => readResults(path.join(dir, 'results'), path.join(dir, 'windows.json')),
        /cat\/x\.csv is in .*windows\.json but has no result file/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
