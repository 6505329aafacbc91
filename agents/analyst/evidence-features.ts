/**
 * What an incident's evidence says about each service, as features of
 * strength 0–1, each with the concrete evidence behind it (a series, a
 * change, restarts, a count of log lines). Metrics are read by the
 * conventions Prometheus names and labels follow (unit suffixes, `_total`
 * counters, `code`/`outcome`/`level` labels, a `dependency` label on the
 * caller's view of a call, `process_*` and language-runtime prefixes), with
 * the fleet's `sentinel_fleet_*` series as the concrete case, so the features
 * hold for any service that follows the conventions.
 *
 * Three kinds of feature:
 * - a service's own: what its own series, changes, restarts and log lines show;
 * - pointed at it: what its callers' view of their calls to it shows
 *   (`calledSlow`, `calledFailing`, `calledUnreachable`), discounted when the
 *   caller is itself busy (a CPU-bound or pool-starved caller times its calls
 *   slow whoever it calls);
 * - its place in the call graph: how sick its dependencies look
 *   (`downstream`), whether traffic rose above or below it, whether it is
 *   where requests enter.
 *
 * Log text is data: lines are counted by service and level, and a line is
 * told apart from the service's structured log only by its format (JSON or
 * not). Nothing in a line is read for names or instructions.
 */
import type {
  AnomalyEvidence,
  ChangeEvidence,
  IncidentEvidence,
  LogEvidence,
  RestartEvidence,
} from './evidence.ts';

/** The features the fault signatures are written in. */
export const EVIDENCE_FEATURES = [
  /** CPU time of the process rose (`process_cpu_seconds_total` rate, any `*_cpu_*seconds_total`). */
  'cpu',
  /** The runtime's event loop (or scheduler) lags: a CPU-bound process. */
  'eventLoop',
  /** Resident or heap memory rose (`process_resident_memory_bytes`, `*_heap_*bytes`). */
  'memory',
  /** A disk, filesystem, volume or data directory fills (`*_dir_bytes`, `*_avail_bytes` falling). */
  'diskUsage',
  /** Writes to disk fail (`*_disk_*errors_total`, HTTP 507 Insufficient Storage). */
  'diskErrors',
  /** Connections of a pool in use rose (`*_pool_in_use`, `*_connections_active`). */
  'poolInUse',
  /** Callers wait for a pooled connection (`*_pool_queue`, `*_pending`). */
  'poolQueue',
  /** Waits for a pooled connection time out (`*_pool_timeouts_total`, calls ending `pool_timeout`/`pool_full`). */
  'poolErrors',
  /** The pool may hold fewer connections than it did (`*_pool_size`/`_max` falling). */
  'poolShrunk',
  /** The service fails requests itself (5xx other than 502/503/504, `*_errors_total`). */
  'ownErrors',
  /** The service answers 502/503/504: usually a dependency or a local resource gave out. */
  'gatewayErrors',
  /** More warn/error lines in its log. */
  'logErrors',
  /** Its own request latency rose (`*_duration_seconds` quantiles and mean, no dependency label). */
  'latency',
  /** Requests it serves rose. */
  'trafficUp',
  /** Requests it serves fell. */
  'trafficDown',
  /** Its targets stopped answering scrapes (`up` fell). */
  'unavailable',
  /** Its log has lines of a shape never seen before (`sentinel_log_novelty_total`). */
  'novelty',
  /** Unusual non-error lines in its log (the more so when they break its structured format). */
  'unusualLogs',
  /** A deploy (or config change) of it shortly before its symptoms, times how symptomatic it is. */
  'deploy',
  /** Its replicas restarted with no deploy to explain it; repeatedly is a crash loop. */
  'restarts',
  /** Its callers see their calls to it slow. */
  'calledSlow',
  /** Its callers see their calls to it fail (error, timeout). */
  'calledFailing',
  /** Its callers cannot reach it at all (refused, unreachable, no upstream). */
  'calledUnreachable',
  /** How sick its dependencies look (their own symptoms, or its calls to them failing). */
  'downstream',
  /** Traffic rose at a service that calls it, directly or not. */
  'upstreamTrafficUp',
  /** Traffic rose at services it calls, directly or not. */
  'downstreamTrafficUp',
  /** Its calls to its dependencies, or their traffic, fell. */
  'calleesTrafficDown',
  /** Requests enter the system here (an entry service, or one nobody calls). */
  'entry',
  /** Any symptom other than its log's (errors, latency, saturation, availability, restarts, a deploy). */
  'otherHarm',
] as const;
export type EvidenceFeature = (typeof EVIDENCE_FEATURES)[number];

/** One piece of evidence behind a feature. */
export interface FeatureSource {
  /** A short clause naming the concrete evidence, e.g. a series and how it moved. */
  readonly text: string;
  /** 0–1. */
  readonly strength: number;
}

/** A feature of one service: how strongly it holds and what shows it. */
export interface FeatureValue {
  readonly strength: number;
  /** Strongest first. */
  readonly sources: readonly FeatureSource[];
}

export type ServiceFeatures = Readonly<Record<EvidenceFeature, FeatureValue>>;

/** The evidence, read per service. */
export interface EvidenceReading {
  /** The services a conclusion may name that the evidence concerns, sorted. */
  readonly candidates: readonly string[];
  /** Features of every known service (all zero when nothing concerns it). */
  readonly features: ReadonlyMap<string, ServiceFeatures>;
  /** The services a conclusion may name. */
  readonly known: readonly string[];
  /** Transitive callees of each known service (itself excluded), sorted. */
  readonly descendants: ReadonlyMap<string, readonly string[]>;
  /** Transitive callers of each known service (itself excluded), sorted. */
  readonly ancestors: ReadonlyMap<string, readonly string[]>;
  /** When the first symptom of the incident started, ms since the epoch. */
  readonly incidentStartMs: number;
}

/** How the reading weighs time. */
export interface ReadingOptions {
  /**
   * A deploy up to this long before a service's first symptom counts fully; older ones fade.
   * @default 600_000 (10 minutes)
   */
  readonly deployFreshMs?: number;
  /**
   * Clock difference tolerated between the change log and the telemetry: a
   * deploy recorded this long after the first symptom still counts.
   * @default 15_000
   */
  readonly clockSkewMs?: number;
  /**
   * Restarts up to this long after a deploy, config or scale change of the service are its roll-out.
   * @default 180_000
   */
  readonly rolloutMs?: number;
}

const DEFAULTS: Required<ReadingOptions> = {
  deployFreshMs: 10 * 60_000,
  clockSkewMs: 15_000,
  rolloutMs: 3 * 60_000,
};
/** A deploy older than the fresh window fades with this time constant. */
const DEPLOY_FADE_MS = 30 * 60_000;
/** Beyond this, a deploy is history, not a cause. */
const DEPLOY_MAX_AGE_MS = 24 * 60 * 60_000;
/** How much a busy caller's view of its calls is discounted (it times its own waiting). */
const BUSY_CALLER_DISCOUNT = 0.8;
/** A resolved episode still happened; it counts a little less. */
const RESOLVED_FACTOR = 0.8;
/** Longest label value or metric name quoted in a sentence. */
const MAX_QUOTE = 64;
const MAX_LABELS_QUOTED = 4;

// ---------------------------------------------------------------------------
// Conventions

/** Labels by which a series names the dependency it measures calls to. */
const DEPENDENCY_LABELS = [
  'dependency',
  'upstream',
  'peer_service',
  'callee',
  'downstream',
  'target_service',
];
const CODE_LABELS = ['code', 'status', 'status_code', 'http_status_code', 'http_response_status_code'];
const OUTCOME_LABELS = ['outcome', 'result', 'error_type'];
/** Outcomes that are the caller's own resource giving out, not the callee. */
const LOCAL_OUTCOME = /^(pool_timeout|pool_full|pool_exhausted|queue_full|no_connection)$/i;
/** Outcomes that say the callee could not be reached at all. */
const UNREACHABLE_OUTCOME = /^(unreachable|refused|connection_refused|no_upstream|unavailable|reset)$/i;
const TIMEOUT_OUTCOME = /(timeout|timed_out|deadline)/i;

const UP_METRIC = /^up$/;
const START_TIME = /_start_time_seconds$/;
const CPU = /(_cpu_(user_|system_|usage_)?seconds_total$|_cpu_(usage|utili[sz]ation)(_ratio)?$)/;
const EVENT_LOOP = /(event_?loop_?(lag|delay)|eventloop_utili[sz]ation|scheduler_latency)/;
const MEMORY =
  /(resident_memory|memory_rss|memory_working_set|memory_usage|heap_[a-z_]*(used|inuse|size)|external_memory|memory_used)[a-z_]*bytes$/;
const MEMORY_LIMIT = /(limit|max|quota|total_size|capacity|available)/;
const DISK = /(disk|_dir_|_dir$|filesystem|volume|_fs_|storage)/;
const DISK_FREE = /(avail|free)/;
const DISK_LIMIT = /(quota|limit|capacity|size_bytes$|total_bytes$)/;
const DISK_ERRORS = /(disk|write|filesystem|_fs_|storage|volume|journal|io)_[a-z_]*(errors|failures)_total$/;
const POOL = /(pool|connection|conns?_)/;
const POOL_LIMIT = /(size|max|limit|capacity)$/;
const POOL_QUEUE = /(queue|queued|pending|waiting|waiters)(_[a-z]+)?$/;
const POOL_IN_USE = /(in_use|active|busy|used|acquired)$/;
const LOG_LINES = /(^sentinel_log_lines_total$|log_(lines|messages|entries|events)_total$)/;
const REQUESTS = /_(requests|calls)_total$|(_duration|_latency)_seconds_count$/;
const DURATION = /(_duration|_latency)_seconds(_count|_sum|_bucket)?$/;

function firstLabel(labels: Readonly<Record<string, string>>, names: readonly string[]): string | undefined {
  for (const n of names) {
    const v = labels[n];
    if (typeof v === 'string' && v.length > 0) return v;
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Accumulating

interface Pointing {
  readonly caller: string;
  readonly dependency: string;
  readonly feature: 'calledSlow' | 'calledFailing' | 'calledUnreachable';
  readonly strength: number;
  readonly startMs: number;
  readonly text: string;
}

/** When a symptom of a service started and how much it weighs. */
interface SymptomTime {
  readonly startMs: number;
  readonly weight: number;
}

class Accumulator {
  readonly #sources = new Map<string, Map<EvidenceFeature, FeatureSource[]>>();

  add(service: string, feature: EvidenceFeature, strength: number, text: string): void {
    if (!(strength > 0)) return;
    let byFeature = this.#sources.get(service);
    if (!byFeature) {
      byFeature = new Map();
      this.#sources.set(service, byFeature);
    }
    const list = byFeature.get(feature) ?? [];
    list.push({ text, strength: Math.min(1, strength) });
    byFeature.set(feature, list);
  }

  strength(service: string, feature: EvidenceFeature): number {
    return combine(this.#sources.get(service)?.get(feature) ?? []);
  }

  value(service: string, feature: EvidenceFeature): FeatureValue {
    const sources = [...(this.#sources.get(service)?.get(feature) ?? [])].sort(
      (a, b) => b.strength - a.strength || compareText(a.text, b.text),
    );
    return { strength: combine(sources), sources };
  }
}

/** Independent pieces of evidence for one feature: noisy-OR. */
function combine(sources: readonly FeatureSource[]): number {
  let miss = 1;
  for (const s of sources) miss *= 1 - s.strength;
  return round(1 - miss);
}

/** Rounded so that the order in which evidence arrived cannot move a tie. */
function round(x: number): number {
  return Math.round(x * 1e9) / 1e9;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Reading

/** A service's own symptoms: what makes a deploy just before them count. */
const SYMPTOM_FEATURES = [
  'cpu',
  'memory',
  'diskUsage',
  'diskErrors',
  'poolQueue',
  'poolErrors',
  'poolShrunk',
  'ownErrors',
  'gatewayErrors',
  'latency',
  'unavailable',
  'calledSlow',
  'calledFailing',
  'calledUnreachable',
] as const satisfies readonly EvidenceFeature[];

/** Any harm beyond the log: its symptoms, restarts, a deploy, more traffic. */
const HARM_FEATURES = [
  ...SYMPTOM_FEATURES,
  'restarts',
  'deploy',
  'trafficUp',
] as const satisfies readonly EvidenceFeature[];

/** Reads `evidence` into features per service (see the file comment). Never throws on odd input. */
export function readEvidence(evidence: IncidentEvidence, options: ReadingOptions = {}): EvidenceReading {
  const opts = { ...DEFAULTS, ...options };
  const known = knownServices(evidence);
  const isKnown = new Set(known);
  const topology = callGraph(evidence, isKnown);
  const descendants = new Map(known.map((s) => [s, reach(topology.callees, s)]));
  const ancestors = new Map(known.map((s) => [s, reach(topology.callers, s)]));

  const anomalies = list(evidence.anomalies)
    .filter((a) => isKnown.has(a.service))
    .sort(compareAnomalies);
  const changes = list(evidence.changes).filter((c) => isKnown.has(c.service));
  const rolledOut = (service: string, atMs: number): boolean =>
    changes.some(
      (c) =>
        c.service === service &&
        Number.isFinite(c.atMs) &&
        atMs >= c.atMs - 5_000 &&
        atMs <= c.atMs + opts.rolloutMs,
    );
  const acc = new Accumulator();
  const pointing: Pointing[] = [];
  for (const a of anomalies) readAnomaly(a, acc, pointing, rolledOut);

  const symptomTimes = symptomTimesOf(anomalies, pointing);
  const incidentStartMs = incidentStart(anomalies, evidence.openedAtMs);
  readLogs(
    list(evidence.logs).filter((l) => isKnown.has(l.service)),
    acc,
  );
  readRestarts(
    list(evidence.restarts).filter((r) => isKnown.has(r.service)),
    rolledOut,
    acc,
  );

  // Callers' views of their calls, discounted by how busy each caller is.
  for (const p of pointing) {
    const busy = Math.max(
      acc.strength(p.caller, 'cpu'),
      acc.strength(p.caller, 'eventLoop'),
      acc.strength(p.caller, 'poolQueue'),
      acc.strength(p.caller, 'poolErrors'),
    );
    const strength = p.strength * (1 - BUSY_CALLER_DISCOUNT * busy);
    const text = busy > 0.3 ? `${p.text} (discounted: ${p.caller} is itself busy)` : p.text;
    if (isKnown.has(p.dependency)) acc.add(p.dependency, p.feature, strength, text);
    acc.add(p.caller, 'downstream', strength, text);
  }

  const harm = (s: string): number =>
    Math.max(
      ...(
        [
          'latency',
          'ownErrors',
          'gatewayErrors',
          'unavailable',
          'restarts',
          'calledSlow',
          'calledFailing',
          'calledUnreachable',
          'diskErrors',
        ] as const
      ).map((f) => acc.strength(s, f)),
    );
  for (const s of known) {
    for (const d of descendants.get(s) ?? []) {
      const h = harm(d);
      if (h > 0) acc.add(s, 'downstream', h, `${s} depends on ${d}, which shows symptoms of its own`);
    }
    for (const u of ancestors.get(s) ?? []) {
      const t = acc.strength(u, 'trafficUp');
      if (t > 0) acc.add(s, 'upstreamTrafficUp', t, `traffic rose at ${u}, which calls ${s}`);
    }
    for (const d of descendants.get(s) ?? []) {
      const t = acc.strength(d, 'trafficUp');
      if (t > 0) acc.add(s, 'downstreamTrafficUp', t, `traffic rose at ${d} downstream of ${s}`);
    }
    for (const d of topology.callees.get(s) ?? []) {
      const t = acc.strength(d, 'trafficDown');
      if (t > 0) acc.add(s, 'calleesTrafficDown', t, `traffic fell at ${d}, which ${s} calls`);
    }
    if (isEntry(s, evidence, topology)) acc.add(s, 'entry', 1, `${s} is where requests enter`);
  }

  // The deploy counts by its timing and by how symptomatic the service is.
  for (const s of known) {
    const symptoms = Math.max(...SYMPTOM_FEATURES.map((f) => acc.strength(s, f)));
    const deploy = freshestDeploy(s, changes, symptomTimes.get(s) ?? [], incidentStartMs, opts);
    if (deploy && symptoms > 0) acc.add(s, 'deploy', deploy.timing * symptoms, deploy.text);
  }

  for (const s of known) {
    const other = Math.max(...HARM_FEATURES.map((f) => acc.strength(s, f)));
    if (other > 0) acc.add(s, 'otherHarm', other, `${s} has symptoms beyond its log`);
  }

  const features = new Map<string, ServiceFeatures>();
  for (const s of known) {
    const f = {} as Record<EvidenceFeature, FeatureValue>;
    for (const name of EVIDENCE_FEATURES) f[name] = acc.value(s, name);
    features.set(s, f);
  }

  const concerned = new Set<string>();
  for (const s of list(evidence.suspects)) concerned.add(s);
  for (const s of list(evidence.services)) concerned.add(s);
  for (const a of anomalies) concerned.add(a.service);
  for (const p of pointing) concerned.add(p.dependency);
  for (const c of changes) concerned.add(c.service);
  for (const r of list(evidence.restarts)) concerned.add(r.service);
  for (const l of list(evidence.logs)) concerned.add(l.service);
  for (const p of list(evidence.pastIncidents)) concerned.add(p.rootCause.service);
  const candidates = [...concerned].filter((s) => isKnown.has(s)).sort(compareText);

  return { candidates, features, known, descendants, ancestors, incidentStartMs };
}

/**
 * The names a conclusion may use: `knownServices`; when that is empty (a
 * gatherer that knows no topology), the services the incident itself names.
 */
function knownServices(evidence: IncidentEvidence): string[] {
  const declared = list(evidence.knownServices).filter((s) => typeof s === 'string' && s.length > 0);
  const names =
    declared.length > 0
      ? declared
      : [...list(evidence.suspects), ...list(evidence.services)].filter(
          (s) => typeof s === 'string' && s.length > 0,
        );
  return [...new Set(names)].sort(compareText);
}

interface CallGraph {
  readonly callees: ReadonlyMap<string, readonly string[]>;
  readonly callers: ReadonlyMap<string, readonly string[]>;
}

/** Calls between known services only. */
function callGraph(evidence: IncidentEvidence, known: ReadonlySet<string>): CallGraph {
  const callees = new Map<string, string[]>();
  const callers = new Map<string, string[]>();
  const deps: Readonly<Record<string, readonly string[]>> = evidence.dependsOn ?? {};
  for (const caller of Object.keys(deps).sort(compareText)) {
    if (!known.has(caller)) continue;
    for (const callee of [...new Set(list(deps[caller]))].sort(compareText)) {
      if (!known.has(callee) || callee === caller) continue;
      callees.set(caller, [...(callees.get(caller) ?? []), callee]);
      callers.set(callee, [...(callers.get(callee) ?? []), caller]);
    }
  }
  return { callees, callers };
}

function reach(edges: ReadonlyMap<string, readonly string[]>, start: string): string[] {
  const seen = new Set<string>([start]);
  const out: string[] = [];
  const stack = [...(edges.get(start) ?? [])];
  while (stack.length > 0) {
    const s = stack.pop() as string;
    if (seen.has(s)) continue;
    seen.add(s);
    out.push(s);
    stack.push(...(edges.get(s) ?? []));
  }
  return out.sort(compareText);
}

function isEntry(service: string, evidence: IncidentEvidence, graph: CallGraph): boolean {
  const entry = list(evidence.entry);
  if (entry.length > 0) return entry.includes(service);
  return (graph.callers.get(service) ?? []).length === 0 && (graph.callees.get(service) ?? []).length > 0;
}

/** An array, or an empty one for input that is not (evidence from outside may be odd). */
function list<T>(xs: readonly T[] | undefined): readonly T[] {
  return Array.isArray(xs) ? (xs as readonly T[]) : [];
}

function compareAnomalies(a: AnomalyEvidence, b: AnomalyEvidence): number {
  return (
    compareText(a.service, b.service) ||
    compareText(a.metric, b.metric) ||
    compareText(labelText(a.labels, 100), labelText(b.labels, 100)) ||
    compareText(a.stat, b.stat) ||
    compareText(a.instance ?? '', b.instance ?? '') ||
    compareNumber(a.startMs, b.startMs) ||
    compareNumber(a.score, b.score) ||
    compareNumber(a.value, b.value) ||
    compareText(a.direction, b.direction)
  );
}

function compareNumber(a: number, b: number): number {
  const x = Number.isFinite(a) ? a : 0;
  const y = Number.isFinite(b) ? b : 0;
  return x - y;
}

/** How much one anomaly weighs: its score, a little less once resolved. */
function weightOf(a: AnomalyEvidence): number {
  const score = Number.isFinite(a.score) ? Math.min(1, Math.max(0, a.score)) : 0;
  return score * (a.resolved ? RESOLVED_FACTOR : 1);
}

/** Whether an anomaly is a symptom (not traffic or runtime detail) going the harmful way. */
function isSymptom(a: AnomalyEvidence): boolean {
  if (a.signal === 'availability') return a.direction === 'down';
  if (a.signal === 'errors' || a.signal === 'latency' || a.signal === 'saturation' || a.signal === 'logs')
    return a.direction === 'up';
  return false;
}

/** The symptoms of each service (its own, and its callers' views of it), by start. */
function symptomTimesOf(
  anomalies: readonly AnomalyEvidence[],
  pointing: readonly Pointing[],
): Map<string, SymptomTime[]> {
  const out = new Map<string, SymptomTime[]>();
  const add = (service: string, startMs: number, weight: number) => {
    if (!Number.isFinite(startMs) || !(weight > 0)) return;
    const times = out.get(service) ?? [];
    times.push({ startMs, weight });
    out.set(service, times);
  };
  for (const a of anomalies) if (isSymptom(a)) add(a.service, a.startMs, weightOf(a));
  for (const p of pointing) add(p.dependency, p.startMs, p.strength);
  return out;
}

function incidentStart(anomalies: readonly AnomalyEvidence[], openedAtMs: number): number {
  const times = (pick: (a: AnomalyEvidence) => boolean) =>
    anomalies.filter((a) => pick(a) && Number.isFinite(a.startMs)).map((a) => a.startMs);
  const symptoms = times(isSymptom);
  if (symptoms.length > 0) return Math.min(...symptoms);
  const any = times(() => true);
  if (any.length > 0) return Math.min(...any);
  return Number.isFinite(openedAtMs) ? openedAtMs : 0;
}

/** Turns one anomaly into features of its service (or, for a caller's view of a call, of the callee). */
function readAnomaly(
  a: AnomalyEvidence,
  acc: Accumulator,
  pointing: Pointing[],
  rolledOut: (service: string, atMs: number) => boolean,
): void {
  const s = a.service;
  const w = weightOf(a);
  if (w <= 0) return;
  const name = String(a.metric);
  const labels: Readonly<Record<string, string>> = a.labels ?? {};
  const up = a.direction === 'up';
  const text = describeAnomaly(a);

  if (UP_METRIC.test(name) || a.signal === 'availability') {
    if (!up) acc.add(s, 'unavailable', w, text);
    return;
  }
  if (START_TIME.test(name)) {
    // A new start time is a restart; a deploy's roll-out explains it.
    if (up && !rolledOut(s, a.startMs)) acc.add(s, 'restarts', w * 0.5, text);
    return;
  }
  if (CPU.test(name)) {
    if (up) acc.add(s, 'cpu', w, text);
    return;
  }
  if (EVENT_LOOP.test(name)) {
    if (up) acc.add(s, 'eventLoop', w, text);
    return;
  }
  if (MEMORY.test(name) && !MEMORY_LIMIT.test(name)) {
    // The resident set is the memory; a runtime's heap gauges are a part of it.
    if (up) acc.add(s, 'memory', /resident|rss|working_set/.test(name) ? w : w * 0.6, text);
    return;
  }
  if (a.signal !== 'errors' && DISK.test(name) && /bytes$/.test(name)) {
    if (DISK_FREE.test(name)) {
      if (!up) acc.add(s, 'diskUsage', w, text);
    } else if (!DISK_LIMIT.test(name) && up) acc.add(s, 'diskUsage', w, text);
    return;
  }
  const dependency = firstLabel(labels, DEPENDENCY_LABELS);
  if (a.signal !== 'errors' && dependency === undefined && POOL.test(name) && !DURATION.test(name)) {
    if (POOL_LIMIT.test(name)) {
      if (!up) acc.add(s, 'poolShrunk', w, text);
    } else if (POOL_QUEUE.test(name)) {
      if (up) acc.add(s, 'poolQueue', w, text);
    } else if (POOL_IN_USE.test(name) && up) acc.add(s, 'poolInUse', w, text);
    return;
  }

  switch (a.signal) {
    case 'latency':
      if (!up) return;
      if (dependency !== undefined) readCallLatency(a, dependency, w, text, acc, pointing);
      else acc.add(s, 'latency', w, text);
      return;
    case 'errors':
      if (!up) return;
      if (dependency !== undefined) readCallErrors(a, dependency, w, text, acc, pointing);
      else readOwnErrors(a, w, text, acc);
      return;
    case 'traffic':
      if (dependency !== undefined) {
        if (!up) acc.add(s, 'calleesTrafficDown', w, text);
      } else if (REQUESTS.test(name) || DURATION.test(name)) {
        acc.add(s, up ? 'trafficUp' : 'trafficDown', w, text);
      }
      return;
    case 'logs':
      if (up) acc.add(s, 'novelty', w, text);
      return;
    default:
      return;
  }
}

function readCallLatency(
  a: AnomalyEvidence,
  dependency: string,
  w: number,
  text: string,
  acc: Accumulator,
  pointing: Pointing[],
): void {
  const outcome = firstLabel(a.labels ?? {}, OUTCOME_LABELS);
  // Waiting for the caller's own pool is the caller's trouble, not the callee's.
  if (outcome !== undefined && LOCAL_OUTCOME.test(outcome)) acc.add(a.service, 'poolErrors', w * 0.6, text);
  else
    pointing.push({
      caller: a.service,
      dependency,
      feature: 'calledSlow',
      strength: w,
      startMs: a.startMs,
      text,
    });
}

function readCallErrors(
  a: AnomalyEvidence,
  dependency: string,
  w: number,
  text: string,
  acc: Accumulator,
  pointing: Pointing[],
): void {
  const outcome = firstLabel(a.labels ?? {}, OUTCOME_LABELS) ?? 'error';
  if (LOCAL_OUTCOME.test(outcome)) {
    acc.add(a.service, 'poolErrors', w, text);
    return;
  }
  if (UNREACHABLE_OUTCOME.test(outcome)) {
    pointing.push({
      caller: a.service,
      dependency,
      feature: 'calledUnreachable',
      strength: w,
      startMs: a.startMs,
      text,
    });
    return;
  }
  pointing.push({
    caller: a.service,
    dependency,
    feature: 'calledFailing',
    strength: w,
    startMs: a.startMs,
    text,
  });
  if (TIMEOUT_OUTCOME.test(outcome))
    pointing.push({
      caller: a.service,
      dependency,
      feature: 'calledSlow',
      strength: w * 0.5,
      startMs: a.startMs,
      text,
    });
}

function readOwnErrors(a: AnomalyEvidence, w: number, text: string, acc: Accumulator): void {
  const s = a.service;
  const name = String(a.metric);
  const labels = a.labels ?? {};
  if (LOG_LINES.test(name)) {
    const level = (labels.level ?? '').toLowerCase();
    acc.add(s, 'logErrors', level === 'error' || level === 'fatal' ? w : w * 0.4, text);
    return;
  }
  if (POOL.test(name)) {
    acc.add(s, 'poolErrors', w, text);
    return;
  }
  if (DISK_ERRORS.test(name)) {
    acc.add(s, 'diskErrors', w, text);
    return;
  }
  const code = firstLabel(labels, CODE_LABELS);
  if (code === '507') {
    // Insufficient Storage: the service could not write.
    acc.add(s, 'diskErrors', w, text);
    acc.add(s, 'ownErrors', w * 0.5, text);
  } else if (code === '502' || code === '503' || code === '504') acc.add(s, 'gatewayErrors', w, text);
  else acc.add(s, 'ownErrors', w, text);
}

function readLogs(logs: readonly LogEvidence[], acc: Accumulator): void {
  const byService = new Map<string, { errors: number; warn: number; plain: number; structured: number }>();
  for (const l of logs) {
    const c = byService.get(l.service) ?? { errors: 0, warn: 0, plain: 0, structured: 0 };
    const level = typeof l.level === 'string' ? l.level.toLowerCase() : '';
    if (level === 'error' || level === 'fatal') c.errors++;
    else if (level === 'warn' || level === 'warning') c.warn++;
    // Only the format is looked at, never the words.
    else if (typeof l.text === 'string' && l.text.trimStart().startsWith('{')) c.structured++;
    else c.plain++;
    byService.set(l.service, c);
  }
  for (const [s, c] of [...byService].sort((a, b) => compareText(a[0], b[0]))) {
    if (c.errors + c.warn > 0)
      acc.add(
        s,
        'logErrors',
        1 - Math.pow(0.8, c.errors) * Math.pow(0.93, c.warn),
        `${s} logged ${c.errors} error and ${c.warn} warning lines`,
      );
    if (c.plain + c.structured > 0)
      acc.add(
        s,
        'unusualLogs',
        1 - Math.pow(0.65, c.plain) * Math.pow(0.88, c.structured),
        `${s} wrote ${c.plain + c.structured} unusual log lines` +
          (c.plain > 0 ? `, ${c.plain} of them unstructured text` : ''),
      );
  }
}

function readRestarts(
  restarts: readonly RestartEvidence[],
  rolledOut: (service: string, atMs: number) => boolean,
  acc: Accumulator,
): void {
  const byService = new Map<string, Map<string, number>>();
  for (const r of restarts) {
    if (rolledOut(r.service, r.atMs)) continue;
    const perInstance = byService.get(r.service) ?? new Map<string, number>();
    const instance = String(r.instance);
    perInstance.set(instance, (perInstance.get(instance) ?? 0) + 1);
    byService.set(r.service, perInstance);
  }
  for (const [s, perInstance] of [...byService].sort((a, b) => compareText(a[0], b[0]))) {
    const counts = [...perInstance].sort((a, b) => compareText(a[0], b[0]));
    const total = counts.reduce((n, [, c]) => n + c, 0);
    const repeated = counts.some(([, c]) => c >= 2);
    const strength = Math.max(1 - Math.pow(0.6, total), repeated ? 0.9 : 0);
    const detail = counts
      .slice(0, 4)
      .map(([i, c]) => `${quote(i)} ×${c}`)
      .join(', ');
    acc.add(
      s,
      'restarts',
      strength,
      `${s} restarted ${total} times with no change to explain it (${detail})`,
    );
  }
}

/**
 * The deploy (or config change) of `service` that best explains its
 * symptoms: the share of their weight that started after it (one early,
 * unrelated blip does not clear a deploy), fading once the deploy is older
 * than the fresh window when they began.
 */
function freshestDeploy(
  service: string,
  changes: readonly ChangeEvidence[],
  symptoms: readonly SymptomTime[],
  incidentStartMs: number,
  opts: Required<ReadingOptions>,
): { timing: number; text: string } | undefined {
  const times = symptoms.length > 0 ? symptoms : [{ startMs: incidentStartMs, weight: 1 }];
  const total = times.reduce((n, t) => n + t.weight, 0);
  let best: { timing: number; atMs: number; text: string } | undefined;
  for (const c of changes) {
    if (c.service !== service || (c.kind !== 'deploy' && c.kind !== 'config')) continue;
    if (!Number.isFinite(c.atMs)) continue;
    const after = times.filter((t) => t.startMs >= c.atMs - opts.clockSkewMs);
    if (after.length === 0 || total <= 0) continue;
    const share = after.reduce((n, t) => n + t.weight, 0) / total;
    const gap = Math.min(...after.map((t) => t.startMs)) - c.atMs;
    if (gap > DEPLOY_MAX_AGE_MS) continue;
    const fade = gap <= opts.deployFreshMs ? 1 : Math.exp(-(gap - opts.deployFreshMs) / DEPLOY_FADE_MS);
    const timing = round(share * fade * (c.kind === 'deploy' ? 1 : 0.6));
    if (!best || timing > best.timing || (timing === best.timing && c.atMs > best.atMs)) {
      const what =
        c.kind === 'deploy'
          ? `${service} was deployed${c.from ? ` from ${quote(c.from)}` : ''}${c.to ? ` to ${quote(c.to)}` : ''}`
          : `${service}'s config changed${c.from ? ` from ${quote(c.from)}` : ''}${c.to ? ` to ${quote(c.to)}` : ''}`;
      const earlier = share < 0.999 ? ` (${Math.round((1 - share) * 100)} % of them began earlier)` : '';
      best = {
        timing,
        atMs: c.atMs,
        text: `${what} by ${quote(c.by)} ${formatGap(gap)} its symptoms${earlier}`,
      };
    }
  }
  return best && { timing: best.timing, text: best.text };
}

function formatGap(gapMs: number): string {
  if (gapMs < 0) return `${Math.round(-gapMs / 1000)} s after`;
  if (gapMs < 120_000) return `${Math.round(gapMs / 1000)} s before`;
  return `${Math.round(gapMs / 60_000)} min before`;
}

// ---------------------------------------------------------------------------
// Sentences

/** `checkout sentinel_fleet_requests_total{code="500"} rate rose to 4.2 from 0.1 (score 0.93)`. */
function describeAnomaly(a: AnomalyEvidence): string {
  const where = a.instance ? `${a.service} (${quote(a.instance)})` : a.service;
  const labels = labelText(a.labels ?? {}, MAX_LABELS_QUOTED);
  const moved = a.direction === 'up' ? 'rose' : 'fell';
  const score = Number.isFinite(a.score) ? a.score.toFixed(2) : '?';
  const resolved = a.resolved ? ', since resolved' : '';
  return `${where} ${quote(a.metric)}${labels} ${quote(a.stat)} ${moved} to ${formatNumber(a.value)} from ${formatNumber(a.baseline)} (score ${score}${resolved})`;
}

function labelText(labels: Readonly<Record<string, string>>, max: number): string {
  const keys = Object.keys(labels).sort(compareText);
  if (keys.length === 0) return '';
  const shown = keys.slice(0, max).map((k) => `${quote(k)}="${quote(String(labels[k]))}"`);
  if (keys.length > max) shown.push('…');
  return `{${shown.join(',')}}`;
}

/** Text from outside, made safe to quote: one line, no quotes or control characters, bounded. */
export function quote(text: string): string {
  const clean = String(text)
    .replace(/[\p{Cc}\p{Cf}"`\\]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return clean.length > MAX_QUOTE ? `${clean.slice(0, MAX_QUOTE - 1)}…` : clean;
}

function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs >= 1e9) return `${(x / 1e9).toFixed(1)}G`;
  if (abs >= 1e6) return `${(x / 1e6).toFixed(1)}M`;
  if (abs >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  if (abs >= 1 || abs === 0) return String(Math.round(x * 100) / 100);
  return x.toPrecision(2);
}
