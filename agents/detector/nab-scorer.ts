/**
 * NAB scoring, as NAB v1.1 does it (`nab/sweeper.py`, `nab/runner.py`):
 *
 * 1. Per file, every row after the probationary period becomes a point with
 *    the detector's anomaly score and a "sweep score": what the row would be
 *    worth if it were a detection (a reward inside a window, a cost outside).
 * 2. The points of the whole corpus are swept from the highest anomaly score
 *    down; at each distinct score the corpus score is what a threshold there
 *    would give. Inside a window only the best-rewarded detection counts,
 *    which is the earliest, since the reward falls with position; a window
 *    with none costs the false-negative weight. Every detection outside the
 *    windows adds its (negative) sweep score.
 * 3. Each profile keeps the threshold with the best corpus score
 *    (`nab/optimizer.py`); the raw score is the sum of the files' scores at
 *    that threshold (the "Totals" row of `nab/scorer.py`), and it is
 *    normalised (`Runner.normalize`) so that NAB's null detector gets 0 and a
 *    perfect one (fires on the first row of every window and nowhere else)
 *    gets 100.
 *
 * On NAB-shaped input this gives NAB's thresholds and its scores to about
 * 1e-12 (only the order floats are summed in differs). Input NAB's labeler
 * or sweeper would reject or mis-handle is treated on purpose: a label not on
 * a row is mapped to the rows it covers (NAB's sweeper would skip it and every
 * later window of the file), windows sharing a timestamp are an error here,
 * and a width-1 window does not divide by zero.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { NabInputError } from './errors.ts';
import { column, listCategoryCsvFiles, parseNabTimestamp, readCsv } from './nab-files.ts';

/** The weights of one NAB application profile. */
export interface CostMatrix {
  readonly tpWeight: number;
  readonly fpWeight: number;
  readonly fnWeight: number;
}

/**
 * NAB's three profiles (`config/profiles.json`), named the way the bench
 * reports them: `standard`, NAB's `reward_low_FP_rate` and `reward_low_FN_rate`.
 * The true-negative weight is 1 in NAB but never used by its scorer.
 */
export const NAB_PROFILES = {
  standard: { tpWeight: 1, fpWeight: 0.11, fnWeight: 1 },
  reward_low_fp_rate: { tpWeight: 1, fpWeight: 0.22, fnWeight: 1 },
  reward_low_fn_rate: { tpWeight: 1, fpWeight: 0.11, fnWeight: 2 },
} as const satisfies Record<string, CostMatrix>;

export type NabProfileName = keyof typeof NAB_PROFILES;

/** The fraction of each file during which detections are not scored. */
export const PROBATION_FRACTION = 0.15;

/**
 * The scaled sigmoid NAB weighs every detection with, of a position relative
 * to a window (`nab/sweeper.py` `scaledSigmoid`):
 *
 *   S(x) = 2 / (1 + e^(5x)) - 1,  and S(x) = -1 for x > 3.
 *
 * Inside a window x runs from -1 (its first row) towards 0 (just past its last
 * row): S(-1) = 0.98661, S(-0.5) = 0.84828, S(0) = 0. After a window x is the
 * distance past its last row in window widths: S(1) = -0.98661, so a false
 * positive just after a window costs almost nothing and one a window-width or
 * more later costs the full false-positive weight. NAB's cut-off is strictly
 * above 3 (`if relativePositionInWindow > 3.0`): S(3) itself is the sigmoid's
 * -0.99999939, not -1, and that is what a false positive exactly three
 * widths after a window costs (positions are whole rows over w - 1, so most
 * windows have such a row).
 */
export function scaledSigmoid(relativePosition: number): number {
  if (relativePosition > 3) return -1;
  return 2 / (1 + Math.exp(5 * relativePosition)) - 1;
}

/**
 * Rows at the start of a file that are not scored: 15 % of the file, but never
 * more than 15 % of 5000 rows (NAB `Sweeper._getProbationaryLength`), so a long
 * file is scored from row 750 on.
 */
export function probationaryLength(rows: number, fraction: number = PROBATION_FRACTION): number {
  return Math.min(Math.floor(fraction * rows), fraction * 5000);
}

/** One labelled file with a detector's scores: timestamps in ms, in row order (NAB data is in time order but for a few repeated or stepped-back stamps). */
export interface ScoredSeries {
  readonly name: string;
  readonly timestamps: readonly number[];
  readonly scores: readonly number[];
  /** Anomaly windows as `[startMs, endMs]`, inclusive, in time order. */
  readonly windows: readonly (readonly [number, number])[];
}

/** A window as row indices, both inclusive. */
interface RowWindow {
  readonly first: number;
  readonly last: number;
}

/** Rows of one file as sweep points; probationary rows are left out. */
interface SweepPoints {
  /** The detector's score of each point. */
  readonly score: Float64Array;
  /** S(position) of each point, before the profile's weights. */
  readonly sigmoid: Float64Array;
  /** The corpus-wide id of the window the point is in, or -1. */
  readonly window: Int32Array;
  /** The ids of the windows that have at least one scored row. */
  readonly windowIds: readonly number[];
}

/**
 * Maps `[startMs, endMs]` windows to rows as NAB does: a window starts at the
 * first row whose timestamp equals its start and ends at the first row whose
 * timestamp equals its end (NAB labels are aligned to rows; a few NAB files
 * repeat or step back a timestamp, and NAB takes the first occurrence). For
 * labels that are not aligned, the first row at or after the start and the
 * last row, from there on, at or before the end.
 */
function rowWindows(series: ScoredSeries): RowWindow[] {
  const ts = series.timestamps;
  const out: RowWindow[] = [];
  for (const [start, end] of series.windows) {
    let first = ts.indexOf(start);
    if (first < 0) {
      first = 0;
      while (first < ts.length && ts[first]! < start) first++;
    }
    let last = ts.indexOf(end);
    if (last < first) {
      last = first - 1;
      while (last + 1 < ts.length && ts[last + 1]! <= end) last++;
    }
    if (last < first) {
      throw new NabInputError(
        series.name,
        undefined,
        `the window [${new Date(start).toISOString()}, ${new Date(end).toISOString()}] covers no row`,
      );
    }
    out.push({ first, last });
  }
  return out;
}

/**
 * The sweep points of one file (NAB `Sweeper.calcSweepScore`). Positions:
 *
 * - inside a window of width w rows (first row a, last row b), row i is at
 *   -(b - i + 1) / w: -1 on the first row, -1/w on the last (NAB's `+ 1`
 *   means a detection never reaches 0). Its reward is
 *   tpWeight * S(position) / S(-1), so the first row earns exactly tpWeight;
 * - after a window, row i is at |b - i| / (w - 1) past it and costs
 *   fpWeight * S(position), from about 0 right after the window to the full
 *   fpWeight from one window-width on (a width-1 window divides by zero in
 *   NAB and gives -1 here, the same limit);
 * - before any window a detection costs the full fpWeight: NAB sets the
 *   unweighted score to -1 itself there (not S(3), which is not quite -1).
 */
function sweepPoints(series: ScoredSeries, firstWindowId: number): SweepPoints {
  const n = series.timestamps.length;
  const probation = probationaryLength(n);
  const windows = rowWindows(series);
  const skip = Math.min(n, Math.ceil(probation));
  const size = n - skip;
  const score = new Float64Array(size);
  const sigmoid = new Float64Array(size);
  const window = new Int32Array(size);
  const windowIds = new Set<number>();
  let next = 0;
  let prev: RowWindow | undefined;
  for (let i = 0; i < n; i++) {
    while (next < windows.length && windows[next]!.last < i) prev = windows[next++];
    const cur = next < windows.length && windows[next]!.first <= i ? windows[next] : undefined;
    if (i < probation) continue;
    const k = i - skip;
    score[k] = series.scores[i]!;
    if (cur) {
      const width = cur.last - cur.first + 1;
      sigmoid[k] = scaledSigmoid(-(cur.last - i + 1) / width);
      window[k] = firstWindowId + next;
      windowIds.add(firstWindowId + next);
    } else {
      sigmoid[k] = prev ? scaledSigmoid(Math.abs(i - prev.last) / (prev.last - prev.first)) : -1;
      window[k] = -1;
    }
  }
  return { score, sigmoid, window, windowIds: [...windowIds] };
}

/** The corpus score a threshold gives: detections are the rows scoring at or above it. */
export interface ThresholdScore {
  readonly threshold: number;
  readonly score: number;
}

/** NAB's top of the sweep: above every score, so no row is a detection. */
const ABOVE_ALL = 1.1;

/**
 * The corpus score at every distinct anomaly score, highest threshold first
 * (NAB `Sweeper.calcScoreByThreshold`).
 */
function thresholdCurve(files: readonly SweepPoints[], cost: CostMatrix): ThresholdScore[] {
  const maxTp = scaledSigmoid(-1);
  let total = 0;
  for (const f of files) total += f.score.length;
  const score = new Float64Array(total);
  const weight = new Float64Array(total);
  const window = new Int32Array(total);
  const best = new Map<number, number>();
  let at = 0;
  for (const f of files) {
    for (let k = 0; k < f.score.length; k++, at++) {
      score[at] = f.score[k]!;
      const w = f.window[k]!;
      window[at] = w;
      weight[at] = w >= 0 ? (f.sigmoid[k]! * cost.tpWeight) / maxTp : f.sigmoid[k]! * cost.fpWeight;
    }
    for (const id of f.windowIds) best.set(id, -cost.fnWeight);
  }
  const order = Array.from({ length: total }, (_, i) => i).sort((a, b) => score[b]! - score[a]!);
  let current = -cost.fnWeight * best.size;
  let threshold = ABOVE_ALL;
  const curve: ThresholdScore[] = [];
  for (const i of order) {
    if (score[i] !== threshold) {
      curve.push({ threshold, score: current });
      threshold = score[i]!;
    }
    const w = window[i]!;
    if (w < 0) {
      current += weight[i]!;
    } else {
      const was = best.get(w)!;
      if (weight[i]! > was) {
        best.set(w, weight[i]!);
        current += weight[i]! - was;
      }
    }
  }
  curve.push({ threshold, score: current });
  return curve;
}

/**
 * The best threshold of a curve; among equal scores the highest threshold,
 * as NAB's stable `sorted(..., reverse=True)[0]` keeps (`nab/optimizer.py`).
 */
function bestOf(curve: readonly ThresholdScore[]): ThresholdScore {
  let best = curve[0]!;
  for (const c of curve) if (c.score > best.score) best = c;
  return best;
}

/** How one file fares at a threshold. */
export interface FileScore {
  readonly name: string;
  readonly score: number;
  readonly windows: number;
  readonly detectedWindows: number;
  /** Detections outside every window, probation excluded. */
  readonly falsePositives: number;
}

/** One profile's result over the corpus. */
export interface ProfileScore {
  readonly threshold: number;
  /** The raw corpus score at that threshold: the sum of the files' scores. */
  readonly raw: number;
  /**
   * The null detector's raw score, at its own best threshold: -fnWeight per
   * window with a scored row, unless firing on every row does better.
   */
  readonly nullScore: number;
  /**
   * The perfect score: tpWeight per labelled window, every window counted
   * (NAB `Runner.normalize` counts the windows of the labels file), even one
   * wholly inside a probationary period that no detector can reach.
   */
  readonly perfectScore: number;
  /** 100 * (raw - null) / (perfect - null). */
  readonly normalized: number;
  readonly files: readonly FileScore[];
}

function fileScore(
  series: ScoredSeries,
  points: SweepPoints,
  cost: CostMatrix,
  threshold: number,
): FileScore {
  const maxTp = scaledSigmoid(-1);
  const best = new Map<number, number>(points.windowIds.map((id) => [id, -cost.fnWeight]));
  let fpSum = 0;
  let falsePositives = 0;
  for (let k = 0; k < points.score.length; k++) {
    if (points.score[k]! < threshold) continue;
    const w = points.window[k]!;
    if (w < 0) {
      fpSum += points.sigmoid[k]! * cost.fpWeight;
      falsePositives++;
    } else {
      best.set(w, Math.max(best.get(w)!, (points.sigmoid[k]! * cost.tpWeight) / maxTp));
    }
  }
  let score = fpSum;
  let detectedWindows = 0;
  for (const v of best.values()) {
    score += v;
    if (v !== -cost.fnWeight) detectedWindows++;
  }
  return { name: series.name, score, windows: series.windows.length, detectedWindows, falsePositives };
}

/**
 * Scores a corpus under each profile: sweeps the threshold over every
 * distinct anomaly score for the best corpus score, then normalises it.
 * The null score is that of NAB's null detector (a constant 0.5 on every row,
 * `nab/detectors/null`) under the same sweep and scoring; the perfect score
 * counts every labelled window.
 */
export function scoreCorpus(
  corpus: readonly ScoredSeries[],
  profiles: Readonly<Record<string, CostMatrix>> = NAB_PROFILES,
): Record<string, ProfileScore> {
  let nextId = 0;
  const points = corpus.map((s) => {
    const p = sweepPoints(s, nextId);
    nextId += s.windows.length;
    return p;
  });
  const nullPoints = points.map((p) => ({ ...p, score: new Float64Array(p.score.length).fill(0.5) }));
  const windowCount = corpus.reduce((n, s) => n + s.windows.length, 0);
  const out: Record<string, ProfileScore> = {};
  for (const [name, cost] of Object.entries(profiles)) {
    const best = bestOf(thresholdCurve(points, cost));
    const files = corpus.map((s, i) => fileScore(s, points[i]!, cost, best.threshold));
    // NAB normalises the "Totals" row, the sum of the per-file scores at the
    // chosen threshold, for the detector and for the null detector alike.
    const raw = files.reduce((sum, f) => sum + f.score, 0);
    const nullThreshold = bestOf(thresholdCurve(nullPoints, cost)).threshold;
    const nullScore = corpus.reduce(
      (sum, s, i) => sum + fileScore(s, nullPoints[i]!, cost, nullThreshold).score,
      0,
    );
    const perfectScore = windowCount * cost.tpWeight;
    const span = perfectScore - nullScore;
    out[name] = {
      threshold: best.threshold,
      raw,
      nullScore,
      perfectScore,
      normalized: span === 0 ? 0 : (100 * (raw - nullScore)) / span,
      files,
    };
  }
  return out;
}

const windowsSchema = z.record(z.string(), z.array(z.tuple([z.string(), z.string()])));

/** Where `"key"` first appears in a JSON text, as a 1-based line; for error messages. */
function lineOf(text: string, key: string): number | undefined {
  const at = text.indexOf(JSON.stringify(key));
  return at < 0 ? undefined : text.slice(0, at).split('\n').length;
}

/**
 * Reads a NAB windows file (`combined_windows.json` shape): for each
 * `<category>/<name>.csv`, its windows as `[start, end]` timestamps.
 */
export function readWindows(file: string): Map<string, [number, number][]> {
  let text: string;
  let json: unknown;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new NabInputError(file, undefined, 'cannot read the windows file', { cause: err });
  }
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new NabInputError(file, undefined, `not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = windowsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path[0];
    throw new NabInputError(
      file,
      typeof key === 'string' ? lineOf(text, key) : undefined,
      `${issue.path.join('.') || '(top level)'}: ${issue.message} (expected {"<category>/<name>.csv": [["start", "end"], ...]})`,
    );
  }
  const out = new Map<string, [number, number][]>();
  for (const [name, list] of Object.entries(parsed.data)) {
    const windows = list.map(([a, b], i): [number, number] => {
      const start = parseNabTimestamp(a);
      const end = parseNabTimestamp(b);
      const where = `${name} window ${i}`;
      if (start === undefined) throw new NabInputError(file, lineOf(text, a), `${where}: bad start "${a}"`);
      if (end === undefined) throw new NabInputError(file, lineOf(text, b), `${where}: bad end "${b}"`);
      if (end < start) throw new NabInputError(file, lineOf(text, b), `${where}: ends before it starts`);
      return [start, end];
    });
    windows.sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < windows.length; i++) {
      if (windows[i]![0] <= windows[i - 1]![1]) {
        throw new NabInputError(file, lineOf(text, name), `${name}: windows ${i - 1} and ${i} overlap`);
      }
    }
    out.set(name, windows);
  }
  return out;
}

const scoreCell = z
  .string()
  .trim()
  .min(1, 'empty anomaly_score')
  .transform(Number)
  .pipe(z.number('anomaly_score is not a number').min(0).max(1));

/** Reads one result file: its timestamps and anomaly scores, checked row by row. */
export function readResultFile(file: string, name: string, windows: [number, number][]): ScoredSeries {
  const table = readCsv(file);
  const tCol = column(table, 'timestamp');
  const sCol = column(table, 'anomaly_score');
  const timestamps: number[] = [];
  const scores: number[] = [];
  for (const row of table.rows) {
    const ts = parseNabTimestamp(row.cells[tCol]!);
    if (ts === undefined) throw new NabInputError(file, row.line, `bad timestamp "${row.cells[tCol]}"`);
    const parsed = scoreCell.safeParse(row.cells[sCol]);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new NabInputError(file, row.line, `${issue.message} ("${row.cells[sCol]}", expected 0..1)`);
    }
    timestamps.push(ts);
    scores.push(parsed.data);
  }
  return { name, timestamps, scores, windows };
}

/**
 * Reads `<results>/<category>/<detector>_<name>.csv` for every file the
 * windows file lists. A listed file without results is an error; result files
 * the windows file does not list are an error too (they would be silently
 * unscored).
 */
export function readResults(resultsDir: string, windowsFile: string, detector = 'sentinel'): ScoredSeries[] {
  const windows = readWindows(windowsFile);
  const prefix = `${detector}_`;
  const found = new Map<string, string>();
  for (const rel of listCategoryCsvFiles(resultsDir)) {
    const [category, file] = rel.split('/') as [string, string];
    if (!file.startsWith(prefix)) continue;
    found.set(`${category}/${file.slice(prefix.length)}`, path.join(resultsDir, rel));
  }
  const unlisted = [...found.keys()].filter((k) => !windows.has(k));
  if (unlisted.length > 0) {
    throw new NabInputError(windowsFile, undefined, `no windows for result file(s) ${unlisted.join(', ')}`);
  }
  const out: ScoredSeries[] = [];
  for (const [name, list] of windows) {
    const file = found.get(name);
    if (file === undefined) {
      const [category, base] = name.split('/');
      throw new NabInputError(
        path.join(resultsDir, category ?? '', `${prefix}${base ?? name}`),
        undefined,
        `missing: ${name} is in ${windowsFile} but has no result file`,
      );
    }
    out.push(readResultFile(file, name, list));
  }
  return out;
}

/**
 * `x` to two decimals the way NAB prints its final scores (Python `'%.2f'`
 * in `Runner.normalize`): rounded from the exact binary value, an exact tie
 * to even. `Math.round(x * 100) / 100` is not that: the product is itself
 * rounded (68.985 is 68.98499…, but 68.985 * 100 is 6898.5), and ties go up.
 * `toFixed` rounds the exact value too but sends ties away from zero; a
 * double is an exact tie at two decimals only when 8x is an odd integer.
 */
function roundLikeNab(x: number): number {
  const eighths = x * 8;
  if (Number.isInteger(eighths) && eighths % 2 !== 0) {
    const below = Math.floor(x * 100);
    return (below % 2 === 0 ? below : below + 1) / 100;
  }
  return Number(x.toFixed(2));
}

/** The bench line's metrics: the normalised score of each profile, to two decimals as NAB prints it. */
export function benchResults(scores: Record<string, ProfileScore>): Record<string, number> {
  return Object.fromEntries(Object.entries(scores).map(([name, s]) => [name, roundLikeNab(s.normalized)]));
}

/** A human summary: per profile the threshold and scores, then the standard profile per file. */
export function formatSummary(scores: Record<string, ProfileScore>): string {
  const lines: string[] = [];
  for (const [name, s] of Object.entries(scores)) {
    lines.push(
      `${name.padEnd(19)} ${roundLikeNab(s.normalized).toFixed(2).padStart(7)}  (raw ${s.raw.toFixed(3)}, null ${s.nullScore.toFixed(1)}, perfect ${s.perfectScore.toFixed(1)}, threshold ${s.threshold.toFixed(4)})`,
    );
  }
  const standard = scores.standard;
  if (standard) {
    lines.push('', 'standard profile per file (windows detected / windows, false positives, score):');
    for (const f of standard.files) {
      lines.push(
        `  ${f.name.padEnd(64)} ${`${f.detectedWindows}/${f.windows}`.padStart(5)} ${String(f.falsePositives).padStart(5)} ${f.score.toFixed(3).padStart(8)}`,
      );
    }
  }
  return lines.join('\n');
}

/** Reads and scores a results directory against a windows file. */
export function scoreNab(
  resultsDir: string,
  windowsFile: string,
  detector = 'sentinel',
): Record<string, ProfileScore> {
  return scoreCorpus(readResults(resultsDir, windowsFile, detector));
}
