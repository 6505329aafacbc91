/**
 * Log lines as counts the detector can score: lines per level, and the
 * novelty of what the target writes. A line's shape is its message with the
 * variable parts masked (numbers, hex, ids, quoted strings, paths), the way
 * log-template miners (Drain, Spell) reduce a log to its templates; for a
 * JSON line (pino, bunyan, most structured loggers) it is the level and the
 * message field.
 *
 * After a learning period, a shape never seen before adds to the novelty
 * counter, weighted by what it suggests: a quarter for a new info or warn
 * message (a deploy's banner, one failed request's warnings), half for a new
 * error or fatal one, and a whole for an unstructured line in a log that was
 * structured (JSON) all through learning, the mark of text that did not come
 * from the service's own logger. The detector opens a novelty episode at a
 * whole point within its window.
 *
 * Text is only ever counted and masked here, never interpreted: a line that
 * says "delete everything" is a new shape, nothing more.
 */

import type { MetricSampleData } from '../../choreography/index.ts';

/**
 * The (weighted) counter of never-seen shapes: a novelty signal, not a
 * statistical one. The log counters carry a prefix no scraped metric may use:
 * a target that exports these names has them dropped (see TelemetryDetector).
 */
export const NEW_SHAPES_METRIC = 'sentinel_log_novelty_total';
/** Log lines per level. */
export const LOG_LINES_METRIC = 'sentinel_log_lines_total';

/** What a never-seen shape adds to the novelty counter, by level. */
const NOVELTY_WEIGHT: Readonly<Record<string, number>> = { error: 0.5, fatal: 0.5 };
const DEFAULT_NOVELTY = 0.25;
/** An unstructured line in a structured log. */
const FORMAT_BREAK_NOVELTY = 1;
/** Share of JSON lines during learning above which a log counts as structured. */
const STRUCTURED_SHARE = 0.9;

/** Most shapes remembered per target; the least recently seen go first. */
const MAX_SHAPES = 2000;
/** Lines taken as learning before new shapes are counted. */
const LEARN_LINES = 50;
/** Longest part of a line looked at for its shape. */
const SHAPE_CHARS = 256;

const MASKS: readonly [RegExp, string][] = [
  [/"(?:[^"\\]|\\.)*"/g, '"*"'],
  [/'(?:[^'\\]|\\.)*'/g, "'*'"],
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<id>'],
  [/\b0x[0-9a-f]+\b/gi, '<hex>'],
  [/\b[0-9a-f]{12,}\b/gi, '<hex>'],
  [/(?:\/[\w.-]+)+/g, '<path>'],
  // No word break after: "35ms", "3.5s" and "12KB" are numbers with units.
  [/-?\b\d+(?:\.\d+)?(?:e[+-]?\d+)?/gi, '<n>'],
  [/\s+/g, ' '],
];

/** The shape of one line (see the file comment). */
export function lineShape(text: string, level: string): string {
  return parseLine(text, level).shape;
}

function parseLine(text: string, level: string): { shape: string; structured: boolean } {
  let msg = text;
  let structured = false;
  if (text.startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as { msg?: unknown; message?: unknown };
      structured = true;
      const m = parsed.msg ?? parsed.message;
      if (typeof m === 'string') msg = m;
    } catch {
      // Not JSON: the whole line is the message.
    }
  }
  let shape = msg.slice(0, SHAPE_CHARS);
  for (const [re, mask] of MASKS) shape = shape.replace(re, mask);
  return { shape: `${level}|${shape.trim()}`, structured };
}

/** Counts of one target's log, as cumulative counters. */
export class LogCounts {
  readonly #byLevel = new Map<string, number>();
  readonly #shapes = new Map<string, true>();
  #lines = 0;
  #structuredWhileLearning = 0;
  #novelty = 0;

  /** Takes lines as read from the log. */
  take(lines: readonly { readonly level: string; readonly text: string }[]): void {
    for (const line of lines) {
      const level = normaliseLevel(line.level);
      this.#byLevel.set(level, (this.#byLevel.get(level) ?? 0) + 1);
      const { shape, structured } = parseLine(line.text, level);
      const learning = this.#lines < LEARN_LINES;
      if (learning && structured) this.#structuredWhileLearning++;
      if (this.#shapes.has(shape)) {
        // Refresh its place: the map's order is least recently seen first.
        this.#shapes.delete(shape);
      } else if (!learning) {
        const structuredLog = this.#structuredWhileLearning >= STRUCTURED_SHARE * LEARN_LINES;
        this.#novelty +=
          structuredLog && !structured ? FORMAT_BREAK_NOVELTY : (NOVELTY_WEIGHT[level] ?? DEFAULT_NOVELTY);
      }
      this.#shapes.set(shape, true);
      if (this.#shapes.size > MAX_SHAPES) this.#shapes.delete(this.#shapes.keys().next().value as string);
      this.#lines++;
    }
  }

  /** The counters as samples: {@link LOG_LINES_METRIC} by level and {@link NEW_SHAPES_METRIC}. */
  samples(atMs: number): MetricSampleData[] {
    const out: MetricSampleData[] = [...this.#byLevel].map(([level, value]) => ({
      name: LOG_LINES_METRIC,
      labels: { level },
      value,
      timestampMs: atMs,
      kind: 'counter' as const,
    }));
    out.push({
      name: NEW_SHAPES_METRIC,
      labels: {},
      value: this.#novelty,
      timestampMs: atMs,
      kind: 'counter',
    });
    return out;
  }
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

function normaliseLevel(level: string): string {
  const l = level.toLowerCase();
  if (l === 'warning') return 'warn';
  return LEVELS.has(l) ? l : 'other';
}
