/**
 * OTLP/HTTP JSON metrics → `sentinel.telemetry.metrics.v1` events, one per
 * resource (a replica of a service). Gauges become `gauge` samples, monotonic
 * sums `counter` samples, histograms the Prometheus triple (`_bucket` with a
 * cumulative `le`, `_sum`, `_count`), so the detector treats them exactly as
 * scraped ones. The service is the resource's `service.name`, the environment
 * its `deployment.environment` (or `deployment.environment.name`), the
 * instance its `service.instance.id` (or `host.name`).
 *
 * A document whose shape or resource does not fit is refused whole (400, with
 * the path of the first problem); a single data point that cannot become a
 * sample (no value, a non-finite value, an oversized label) is dropped and
 * counted, which OTLP reports as a partial success.
 */
import { createHash } from 'node:crypto';
import { deterministicId, EnvironmentName, MAX_SAMPLES, ServiceName } from '../choreography/index.ts';
import type { MetricSampleData } from '../choreography/index.ts';
import { IngestError } from './errors.ts';
import type { ExportMetricsServiceRequest, OtlpAnyValue, OtlpKeyValue, OtlpMetric } from './schemas.ts';

/** One metrics event to publish: its target, samples, id and partition key. */
export interface MetricsBatch {
  readonly target: { readonly environment: string; readonly service: string; readonly instance: string };
  /** `environment/service/instance`: the collector's target key, which decides the partition. */
  readonly key: string;
  readonly scrapedAtMs: number;
  readonly samples: readonly MetricSampleData[];
  /** Derived from the target and the samples: a resent export is stored once. */
  readonly id: string;
}

/** What an export became. */
export interface OtlpMapping {
  readonly batches: readonly MetricsBatch[];
  readonly rejectedDataPoints: number;
  /** Why the first rejected point was rejected. */
  readonly firstRejection?: string;
}

function anyValueText(v: OtlpAnyValue | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return String(v.boolValue);
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.doubleValue !== undefined) return String(v.doubleValue);
  // Arrays, maps and bytes are not label material.
  return undefined;
}

function attributeMap(attrs: readonly OtlpKeyValue[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const kv of attrs ?? []) {
    const text = anyValueText(kv.value);
    if (text !== undefined) out.set(kv.key, text);
  }
  return out;
}

function nanosToMs(n: string | number | undefined, fallbackMs: number): number {
  if (n === undefined) return fallbackMs;
  const ms = typeof n === 'number' ? Math.floor(n / 1e6) : Number(BigInt(n) / 1_000_000n);
  return ms > 0 && Number.isSafeInteger(ms) ? ms : fallbackMs;
}

function double(v: number | string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'number' ? v : Number(v);
}

/** Labels of a point, or why they do not fit a sample's label limits. */
function labelsOf(attrs: readonly OtlpKeyValue[] | undefined): Record<string, string> | string {
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of attributeMap(attrs)) {
    if (k.length === 0 || k.length > 128) return `a label key of ${k.length} characters (1 to 128 allowed)`;
    if (v.length > 1024) return `label ${k.slice(0, 64)}: a value longer than 1024 characters`;
    labels[k] = v;
  }
  // A plain object again: the event is JSON, and `__proto__` is then just a key.
  return { ...labels };
}

/**
 * Maps an export to metrics events. Throws {@link IngestError} when a
 * resource lacks its service or environment, or they are not Sentinel names.
 */
export function mapOtlpMetrics(req: ExportMetricsServiceRequest, nowMs: number): OtlpMapping {
  const batches: MetricsBatch[] = [];
  let rejected = 0;
  let firstRejection: string | undefined;
  const reject = (why: string) => {
    rejected++;
    firstRejection ??= why;
  };
  req.resourceMetrics.forEach((rm, r) => {
    const attrs = attributeMap(rm.resource?.attributes as OtlpKeyValue[] | undefined);
    const where = `resourceMetrics.${r}.resource.attributes`;
    const service = attrs.get('service.name');
    if (service === undefined) throw new IngestError(where, 'service.name is required');
    if (!ServiceName.safeParse(service).success)
      throw new IngestError(where, `service.name "${service.slice(0, 64)}" is not a kebab-case service name`);
    const environment = attrs.get('deployment.environment') ?? attrs.get('deployment.environment.name');
    if (environment === undefined) throw new IngestError(where, 'deployment.environment is required');
    if (!EnvironmentName.safeParse(environment).success)
      throw new IngestError(
        where,
        `deployment.environment "${environment.slice(0, 64)}" is not a kebab-case name`,
      );
    const instance =
      (attrs.get('service.instance.id') ?? attrs.get('host.name') ?? 'otlp').slice(0, 256) || 'otlp';
    const samples: MetricSampleData[] = [];
    for (const sm of rm.scopeMetrics ?? [])
      for (const m of sm.metrics ?? []) samples.push(...samplesOf(m, nowMs, reject));
    if (samples.length === 0) return;
    if (samples.length > MAX_SAMPLES)
      throw new IngestError(`resourceMetrics.${r}`, `more than ${MAX_SAMPLES} samples for one resource`);
    const target = { environment, service, instance };
    const key = `${environment}/${service}/${instance}`;
    const scrapedAtMs = samples.reduce((t, s) => Math.max(t, s.timestampMs), 0);
    const digest = createHash('sha256').update(JSON.stringify(samples)).digest('hex');
    batches.push({ target, key, scrapedAtMs, samples, id: deterministicId('otlp-metrics', key, digest) });
  });
  return {
    batches,
    rejectedDataPoints: rejected,
    ...(firstRejection === undefined ? {} : { firstRejection }),
  };
}

function samplesOf(m: OtlpMetric, nowMs: number, reject: (why: string) => void): MetricSampleData[] {
  const out: MetricSampleData[] = [];
  const numbers = (
    points: NonNullable<NonNullable<OtlpMetric['gauge']>['dataPoints']>,
    kind: 'gauge' | 'counter',
  ) => {
    for (const p of points) {
      const value =
        p.asDouble !== undefined ? double(p.asDouble) : p.asInt !== undefined ? Number(p.asInt) : undefined;
      if (value === undefined) {
        reject(`${m.name}: a data point without asDouble or asInt`);
        continue;
      }
      if (!Number.isFinite(value)) {
        reject(`${m.name}: a non-finite value`);
        continue;
      }
      const labels = labelsOf(p.attributes as OtlpKeyValue[] | undefined);
      if (typeof labels === 'string') {
        reject(`${m.name}: ${labels}`);
        continue;
      }
      out.push({ name: m.name, labels, value, timestampMs: nanosToMs(p.timeUnixNano, nowMs), kind });
    }
  };
  if (m.gauge !== undefined) numbers(m.gauge.dataPoints ?? [], 'gauge');
  if (m.sum !== undefined) numbers(m.sum.dataPoints ?? [], m.sum.isMonotonic === true ? 'counter' : 'gauge');
  for (const p of m.histogram?.dataPoints ?? []) {
    const labels = labelsOf(p.attributes as OtlpKeyValue[] | undefined);
    if (typeof labels === 'string') {
      reject(`${m.name}: ${labels}`);
      continue;
    }
    const counts = (p.bucketCounts ?? []).map(Number);
    const bounds = (p.explicitBounds ?? []).map((b) => double(b) ?? NaN);
    if (counts.length !== 0 && counts.length !== bounds.length + 1) {
      reject(`${m.name}: bucketCounts must have one more entry than explicitBounds`);
      continue;
    }
    if (bounds.some((b) => !Number.isFinite(b))) {
      reject(`${m.name}: a non-finite bucket bound`);
      continue;
    }
    const timestampMs = nanosToMs(p.timeUnixNano, nowMs);
    const kind = 'histogram' as const;
    let cumulative = 0;
    counts.forEach((c, i) => {
      cumulative += c;
      const le = i < bounds.length ? String(bounds[i]) : '+Inf';
      out.push({ name: `${m.name}_bucket`, labels: { ...labels, le }, value: cumulative, timestampMs, kind });
    });
    const count = p.count === undefined ? cumulative : Number(p.count);
    out.push({ name: `${m.name}_count`, labels, value: count, timestampMs, kind });
    const sum = double(p.sum);
    if (sum !== undefined && Number.isFinite(sum))
      out.push({ name: `${m.name}_sum`, labels, value: sum, timestampMs, kind });
  }
  return out;
}
