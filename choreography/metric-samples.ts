/**
 * The samples of a `telemetry.metrics` event, checked exactly as their zod
 * schema (event-types.ts) checks them, in one tight loop. This is the hot
 * path of the whole system (tens of thousands of samples a second through
 * every collector and detector), where zod's generality costs three times
 * the JSON parsing itself. The schema stays the reference: a property test
 * holds the two to the same verdicts and the same output.
 */
import type { MetricSampleData } from './event-types.ts';

const KINDS = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** Most samples one event carries (the schema's limit). */
export const MAX_SAMPLES = 50_000;

/** The checked samples (unknown keys dropped, as zod does), or what is wrong with them. */
export function checkSamples(
  value: unknown,
): { ok: true; samples: MetricSampleData[] } | { ok: false; issue: string } {
  if (!Array.isArray(value)) return { ok: false, issue: 'samples: expected an array' };
  if (value.length > MAX_SAMPLES) return { ok: false, issue: `samples: more than ${MAX_SAMPLES}` };
  const samples: MetricSampleData[] = new Array<MetricSampleData>(value.length);
  for (let i = 0; i < value.length; i++) {
    const s: unknown = value[i];
    if (typeof s !== 'object' || s === null || Array.isArray(s))
      return { ok: false, issue: `samples.${i}: expected an object` };
    const { name, labels, value: v, timestampMs, kind } = s as Record<string, unknown>;
    if (typeof name !== 'string' || name.length < 1 || name.length > 256)
      return { ok: false, issue: `samples.${i}.name: expected a string of 1 to 256 characters` };
    if (typeof labels !== 'object' || labels === null || Array.isArray(labels))
      return { ok: false, issue: `samples.${i}.labels: expected an object` };
    const entries = Object.entries(labels);
    for (const [k, lv] of entries) {
      if (k.length > 128) return { ok: false, issue: `samples.${i}.labels: a key longer than 128` };
      if (typeof lv !== 'string' || lv.length > 1024)
        return { ok: false, issue: `samples.${i}.labels.${k}: expected a string of at most 1024 characters` };
    }
    if (typeof v !== 'number' || !Number.isFinite(v))
      return { ok: false, issue: `samples.${i}.value: expected a finite number` };
    if (typeof timestampMs !== 'number' || !Number.isSafeInteger(timestampMs) || timestampMs < 0)
      return { ok: false, issue: `samples.${i}.timestampMs: expected a non-negative integer` };
    if (kind !== undefined && (typeof kind !== 'string' || !KINDS.has(kind)))
      return { ok: false, issue: `samples.${i}.kind: expected one of ${[...KINDS].join(', ')}` };
    const clean = Object.fromEntries(entries) as Record<string, string>;
    samples[i] =
      kind === undefined
        ? { name, labels: clean, value: v, timestampMs }
        : { name, labels: clean, value: v, timestampMs, kind: kind as NonNullable<MetricSampleData['kind']> };
  }
  return { ok: true, samples };
}
