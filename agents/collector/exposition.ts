/**
 * Prometheus text exposition → Sentinel metric samples, with the well-kept
 * parser `parse-prometheus-text-format` doing the grammar. What it adds is
 * distrust: a scrape is outside input, so every limit is enforced here and
 * whatever cannot be carried faithfully is dropped and counted, never passed
 * on half-valid:
 * - values that are not finite (NaN, ±Inf: JSON cannot carry them, and a NaN
 *   is "no data", not an anomaly);
 * - negative counters (a counter never goes below zero);
 * - series with too many, too long or malformed labels, or a bad metric name;
 * - anything past the sample budget of one scrape.
 * Histograms and summaries stay as the conventional `_bucket{le}`, `_sum`,
 * `_count` and `{quantile}` samples, each tagged with its family's kind.
 *
 * Parser quirk worked around: version 1.1 folds a histogram's or summary's
 * series into one and loses their labels (and `_sum`/`_count`) when the family
 * has labels. So those families are declared `untyped` to the parser, which
 * then returns every sample line intact, and the kind is taken from our own
 * reading of the `# TYPE` lines.
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { ParsedFamily, ParsedMetric } from 'parse-prometheus-text-format';
import type { MetricSampleData } from '../../choreography/index.ts';

export interface ExpositionLimits {
  /** @default 4 MiB */
  readonly maxBytes: number;
  /** @default 50000 (the telemetry event's own limit) */
  readonly maxSamples: number;
  /** @default 32 */
  readonly maxLabels: number;
  /** @default 1024 */
  readonly maxLabelValueLength: number;
}

export const defaultExpositionLimits: ExpositionLimits = {
  maxBytes: 4 * 1024 * 1024,
  maxSamples: 50_000,
  maxLabels: 32,
  maxLabelValueLength: 1024,
};

export interface Dropped {
  nonFinite: number;
  negativeCounter: number;
  badSeries: number;
  overLimit: number;
}

export interface ParsedExposition {
  readonly samples: MetricSampleData[];
  readonly dropped: Dropped;
}

/** Raised when the text cannot be parsed at all (or is too large): the scrape failed. */
export class ExpositionError extends Error {
  readonly code = 'EXPOSITION_INVALID';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ExpositionError';
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]{0,255}$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]{0,127}$/;

type Kind = NonNullable<MetricSampleData['kind']>;

/** Parses one scrape. `nowMs` stamps samples that carry no timestamp of their own. */
export function parseExposition(
  text: string,
  nowMs: number,
  limits: ExpositionLimits = defaultExpositionLimits,
): ParsedExposition {
  if (Buffer.byteLength(text) > limits.maxBytes)
    throw new ExpositionError(`exposition of ${Buffer.byteLength(text)} bytes exceeds ${limits.maxBytes}`);
  const declared = new Map<string, Kind>();
  const rewritten = text.replace(/^#\s*TYPE\s+(\S+)\s+(\S+)\s*$/gm, (line, name: string, type: string) => {
    const kind = type.toLowerCase();
    if (!isKind(kind)) return line;
    declared.set(name, kind);
    return kind === 'histogram' || kind === 'summary' ? `# TYPE ${name} untyped` : line;
  });
  let families: ParsedFamily[];
  try {
    families = parsePrometheusTextFormat(rewritten);
  } catch (err) {
    throw new ExpositionError(`unparseable exposition: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const samples: MetricSampleData[] = [];
  const dropped: Dropped = { nonFinite: 0, negativeCounter: 0, badSeries: 0, overLimit: 0 };
  for (const family of families) {
    const kind = kindOf(family.name, declared);
    if (!METRIC_NAME.test(family.name)) {
      dropped.badSeries += family.metrics.length;
      continue;
    }
    for (const m of family.metrics) {
      if (samples.length >= limits.maxSamples) {
        dropped.overLimit++;
        continue;
      }
      const labels = cleanLabels(m, limits);
      if (!labels) {
        dropped.badSeries++;
        continue;
      }
      const value = Number(m.value);
      if (m.value === undefined || !Number.isFinite(value)) {
        dropped.nonFinite++;
        continue;
      }
      if (kind === 'counter' && value < 0) {
        dropped.negativeCounter++;
        continue;
      }
      samples.push({ name: family.name, labels, value, timestampMs: timestampOf(m, nowMs), kind });
    }
  }
  return { samples, dropped };
}

const KINDS: readonly Kind[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];
function isKind(k: string): k is Kind {
  return (KINDS as readonly string[]).includes(k);
}

/** The family kind of a sample name: declared for it, or for the histogram/summary it is a part of. */
function kindOf(name: string, declared: ReadonlyMap<string, Kind>): Kind {
  const own = declared.get(name);
  if (own && own !== 'untyped') return own;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m) {
    const parent = declared.get(m[1] as string);
    if (parent === 'histogram' || (parent === 'summary' && m[2] !== 'bucket')) return parent;
  }
  return own ?? 'untyped';
}

function cleanLabels(m: ParsedMetric, limits: ExpositionLimits): Record<string, string> | undefined {
  const entries = Object.entries(m.labels ?? {});
  if (entries.length > limits.maxLabels) return undefined;
  for (const [k, v] of entries) {
    if (!LABEL_NAME.test(k) || v.length > limits.maxLabelValueLength) return undefined;
  }
  return Object.fromEntries(entries);
}

/** A sample's own timestamp when it is sane (within a day of now), else the scrape time. */
function timestampOf(m: ParsedMetric, nowMs: number): number {
  const t = m.timestamp_ms === undefined ? NaN : Number(m.timestamp_ms);
  return Number.isSafeInteger(t) && t > 0 && Math.abs(t - nowMs) < 86_400_000 ? t : nowMs;
}
