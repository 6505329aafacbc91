/**
 * Runs the detector over a NAB-shaped data directory, the way NAB's detection
 * step does: every `<category>/<name>.csv` (`timestamp,value`) gets a fresh
 * detector, fed row by row, and its scores are written to
 * `<out>/<category>/<detector>_<name>.csv` as `timestamp,value,anomaly_score`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NabInputError } from './errors.ts';
import { column, listCategoryCsvFiles, parseNabTimestamp, readCsv } from './nab-files.ts';
import { SeriesDetector } from './series-detector.ts';

/** Anything that scores a stream one value at a time. */
export interface StreamScorer {
  update(value: number): number;
}

export interface NabRunOptions {
  /** A directory of `<category>/<name>.csv` files. */
  readonly dataDir: string;
  /** Where results go; created if missing. */
  readonly outDir: string;
  /** The prefix of result file names, NAB's detector name. @default 'sentinel' */
  readonly detector?: string;
  /** A fresh detector for each file. @default () => new SeriesDetector() */
  readonly createDetector?: () => StreamScorer;
  /** Called after each file, for progress. */
  readonly onFile?: (relativePath: string, rows: number) => void;
}

export interface NabRunSummary {
  readonly files: number;
  readonly rows: number;
}

/** Scores one `timestamp,value` file; the rows are checked first, so a bad file writes nothing. */
export function scoreDataFile(file: string, detector: StreamScorer): string {
  const table = readCsv(file);
  const tCol = column(table, 'timestamp');
  const vCol = column(table, 'value');
  const lines = ['timestamp,value,anomaly_score'];
  for (const row of table.rows) {
    const ts = row.cells[tCol]!.trim();
    const raw = row.cells[vCol]!.trim();
    if (parseNabTimestamp(ts) === undefined) throw new NabInputError(file, row.line, `bad timestamp "${ts}"`);
    // An empty cell or "NaN" is a gap the detector skips; anything else must be a number.
    const value = raw === '' ? Number.NaN : Number(raw);
    if (Number.isNaN(value) && raw !== '' && !/^nan$/i.test(raw)) {
      throw new NabInputError(file, row.line, `value "${raw}" is not a number`);
    }
    const score = detector.update(value);
    lines.push(`${ts},${raw},${score}`);
  }
  return lines.join('\n') + '\n';
}

/** Runs a fresh detector over every data file and writes the result files. */
export function runNab(options: NabRunOptions): NabRunSummary {
  const detector = options.detector ?? 'sentinel';
  const create = options.createDetector ?? (() => new SeriesDetector());
  const files = listCategoryCsvFiles(options.dataDir);
  if (files.length === 0) {
    throw new NabInputError(options.dataDir, undefined, 'no <category>/<name>.csv files here');
  }
  let rows = 0;
  for (const rel of files) {
    const [category, name] = rel.split('/') as [string, string];
    const text = scoreDataFile(path.join(options.dataDir, rel), create());
    const outDir = path.join(options.outDir, category);
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, `${detector}_${name}`), text);
    const count = text.split('\n').length - 2;
    rows += count;
    options.onFile?.(rel, count);
  }
  return { files: files.length, rows };
}
