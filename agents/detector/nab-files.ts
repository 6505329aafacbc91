/**
 * NAB-shaped files on disk: `<category>/<name>.csv` with a header line and
 * plain comma-separated cells (NAB files never quote), timestamps like
 * `2014-04-10 07:15:00` or `2014-04-10 07:15:00.000000`, read as UTC.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { NabInputError } from './errors.ts';

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;

/** Milliseconds since the epoch for a NAB timestamp, or `undefined` if it is not one. */
export function parseNabTimestamp(text: string): number | undefined {
  const m = TIMESTAMP.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const sub = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  // Date.UTC rolls 2014-02-30 over to March; a real timestamp survives the round trip.
  const back = new Date(ms);
  if (back.getUTCDate() !== Number(d) || back.getUTCMonth() !== Number(mo) - 1) return undefined;
  return ms + sub;
}

/** One CSV file: its header cells and, per data row, the cells and the 1-based line number. */
export interface CsvTable {
  readonly file: string;
  readonly header: readonly string[];
  readonly rows: readonly { readonly cells: readonly string[]; readonly line: number }[];
}

/** Reads a CSV with a header line; blank lines are skipped, a row of the wrong width is an error. */
export function readCsv(file: string): CsvTable {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new NabInputError(file, undefined, 'cannot read the file', { cause: err });
  }
  const lines = text.split(/\r?\n/);
  const first = lines.findIndex((l) => l.trim() !== '');
  if (first < 0) throw new NabInputError(file, undefined, 'the file is empty (a header line is needed)');
  const header = lines[first]!.split(',').map((c) => c.trim());
  const rows: { cells: string[]; line: number }[] = [];
  for (let i = first + 1; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.trim() === '') continue;
    const cells = l.split(',');
    if (cells.length !== header.length) {
      throw new NabInputError(file, i + 1, `${cells.length} cells where the header has ${header.length}`);
    }
    rows.push({ cells, line: i + 1 });
  }
  return { file, header, rows };
}

/** The index of a column, or an error naming the file and the header line. */
export function column(table: CsvTable, name: string): number {
  const at = table.header.indexOf(name);
  if (at < 0) {
    throw new NabInputError(table.file, 1, `no "${name}" column (header: ${table.header.join(',')})`);
  }
  return at;
}

/**
 * Every `<category>/<file>.csv` two levels under `dir`, as sorted relative
 * paths with `/` separators. Hidden files and deeper levels are ignored, as
 * NAB's corpus reader does.
 */
export function listCategoryCsvFiles(dir: string): string[] {
  let categories: string[];
  try {
    categories = readdirSync(dir).filter((c) => !c.startsWith('.'));
  } catch (err) {
    throw new NabInputError(dir, undefined, 'cannot list the directory', { cause: err });
  }
  const found: string[] = [];
  for (const category of categories) {
    const full = path.join(dir, category);
    if (!statSync(full).isDirectory()) continue;
    for (const name of readdirSync(full)) {
      if (name.startsWith('.') || !name.endsWith('.csv')) continue;
      if (statSync(path.join(full, name)).isFile()) found.push(`${category}/${name}`);
    }
  }
  return found.sort();
}
