/**
 * What an incident means, with everything that differs between two
 * occurrences of the same fault taken out: environment, instance and pod ids,
 * numbers, timestamps, hex, UUIDs, addresses. The result has three parts:
 *
 * - `scope`: the sorted service set, the fault signature (per service, the
 *   sorted fault-relevant signal classes with their direction and whether
 *   they still fire) and the polarity facts read from text. Two incidents are
 *   only ever compared when their scopes are equal, so one service's answer
 *   is never served for another and "latency up" never meets "latency down".
 * - `guard`: the polarity facts alone, checked again on every candidate as a
 *   hard guard (defence in depth should the scope ever be widened).
 * - `text`: canonical lines (signals, metric words, change kinds, restarts,
 *   log and note words with synonyms folded) that get embedded; cosine
 *   similarity of that text decides within a scope.
 *
 * Every string here came from outside (metric names, log lines, notes): it is
 * only ever data.
 */
import { SIGNAL_HARM, SignalClass } from '../../choreography/index.ts';

export type Direction = 'up' | 'down';

/** One anomaly, structurally the analyst's `AnomalyEvidence` (extra fields are ignored). */
export interface CacheAnomaly {
  readonly service: string;
  /** Metric name; instance ids, numbers and hex in it are stripped. */
  readonly metric: string;
  readonly signal: SignalClass;
  readonly direction: Direction;
  /** Whether the series is back to its baseline. @default false */
  readonly resolved?: boolean;
}

export interface CacheChange {
  readonly service: string;
  readonly kind: 'deploy' | 'config' | 'scale';
}

export interface CacheLog {
  readonly service: string;
  readonly level?: string;
  readonly text: string;
}

export interface CacheRestart {
  readonly service: string;
}

/**
 * The evidence an incident is keyed by. The analyst's `IncidentEvidence` fits
 * it as is; its environment, ids and times are deliberately not read.
 */
export interface CacheEvidence {
  /** Services with a symptom or under suspicion. */
  readonly services: readonly string[];
  readonly anomalies?: readonly CacheAnomaly[];
  readonly changes?: readonly CacheChange[];
  readonly logs?: readonly CacheLog[];
  readonly restarts?: readonly CacheRestart[];
  /** Free-text summaries (alert reasons, the incident's title). Polarity in them joins the scope. */
  readonly notes?: readonly string[];
}

export interface NormalisedEvidence {
  /** Sorted, de-duplicated, lower-case; never an environment. */
  readonly services: readonly string[];
  /** Per service, `service[class:direction,...]`, joined by `;`. */
  readonly signature: string;
  /** Sorted polarity facts `service|*:subject:polarity` (e.g. `payments:latency:up`, `*:errors:none`). */
  readonly guard: readonly string[];
  /** Everything two incidents must share to be compared at all (JSON of services, signature and guard). */
  readonly scope: string;
  /** Canonical text to embed. */
  readonly text: string;
}

/** Signal classes that say what is wrong; `runtime` is detail only and stays out of the scope. */
const FAULT_CLASSES: ReadonlySet<string> = new Set(
  SignalClass.options.filter((c) => SIGNAL_HARM[c] !== 'never'),
);

/** Longest text read per log line or note, in characters; the rest is never looked at. */
const MAX_TEXT = 2_000;
const MAX_LOG_LINES = 20;
const MAX_NOTES = 10;
const MAX_WORDS_PER_LINE = 32;

type Token =
  | { readonly t: 'word'; readonly v: string }
  | { readonly t: 'subject'; readonly v: string }
  | { readonly t: 'dir'; readonly v: Direction; readonly implicit?: boolean }
  | { readonly t: 'neg' }
  | { readonly t: 'state'; readonly v: 'resolved' | 'firing' }
  | { readonly t: 'service'; readonly v: string };

/** Words that name what is measured; paraphrases fold onto one subject. */
const SUBJECTS: Readonly<Record<string, string>> = {
  latency: 'latency',
  latencies: 'latency',
  lag: 'latency',
  delay: 'latency',
  delays: 'latency',
  delayed: 'latency',
  duration: 'latency',
  p50: 'latency',
  p90: 'latency',
  p95: 'latency',
  p99: 'latency',
  timeout: 'latency',
  timeouts: 'latency',
  error: 'errors',
  errors: 'errors',
  err: 'errors',
  failure: 'errors',
  failures: 'errors',
  failed: 'errors',
  failing: 'errors',
  fail: 'errors',
  fails: 'errors',
  exception: 'errors',
  exceptions: 'errors',
  '5xx': 'errors',
  traffic: 'traffic',
  requests: 'traffic',
  rps: 'traffic',
  qps: 'traffic',
  throughput: 'traffic',
  load: 'traffic',
  availability: 'availability',
  uptime: 'availability',
  cpu: 'cpu',
  cpus: 'cpu',
  memory: 'memory',
  mem: 'memory',
  heap: 'memory',
  rss: 'memory',
  disk: 'disk',
  disks: 'disk',
  filesystem: 'disk',
  storage: 'disk',
  volume: 'disk',
  pool: 'pool',
  pools: 'pool',
  saturation: 'saturation',
  utilisation: 'saturation',
  utilization: 'saturation',
  restart: 'restarts',
  restarts: 'restarts',
  restarted: 'restarts',
  restarting: 'restarts',
  crash: 'restarts',
  crashes: 'restarts',
  crashed: 'restarts',
  crashing: 'restarts',
  crashloop: 'restarts',
  crashloopbackoff: 'restarts',
};

const UP = [
  'up',
  'increase',
  'increased',
  'increases',
  'increasing',
  'rise',
  'rises',
  'rising',
  'rose',
  'risen',
  'spike',
  'spikes',
  'spiked',
  'spiking',
  'high',
  'higher',
  'elevated',
  'surge',
  'surged',
  'surging',
  'grew',
  'grow',
  'grows',
  'growing',
  'jump',
  'jumped',
  'climb',
  'climbed',
  'climbing',
  'above',
  'exceeded',
  'exceeds',
];
const DOWN = [
  'down',
  'decrease',
  'decreased',
  'decreases',
  'decreasing',
  'drop',
  'drops',
  'dropped',
  'dropping',
  'fell',
  'fall',
  'falls',
  'falling',
  'low',
  'lower',
  'reduced',
  'decline',
  'declined',
  'declining',
  'below',
];
const DIRECTIONS: ReadonlyMap<string, Direction> = new Map([
  ...UP.map((w) => [w, 'up'] as const),
  ...DOWN.map((w) => [w, 'down'] as const),
]);

/** Words that carry a subject and a direction at once ("slowed" is latency up). */
const IMPLICIT: Readonly<Record<string, readonly [string, Direction]>> = {
  slow: ['latency', 'up'],
  slower: ['latency', 'up'],
  slowed: ['latency', 'up'],
  slowness: ['latency', 'up'],
  sluggish: ['latency', 'up'],
  faster: ['latency', 'down'],
  outage: ['availability', 'down'],
  unavailable: ['availability', 'down'],
  unreachable: ['availability', 'down'],
  oom: ['memory', 'up'],
  oomkilled: ['memory', 'up'],
  leak: ['memory', 'up'],
  leaking: ['memory', 'up'],
  exhausted: ['pool', 'up'],
  exhaustion: ['pool', 'up'],
  full: ['disk', 'up'],
};

const NEGATIONS: ReadonlySet<string> = new Set([
  'not',
  'no',
  'never',
  'without',
  'none',
  'zero',
  'nothing',
  'nor',
]);

const STATES: Readonly<Record<string, 'resolved' | 'firing'>> = {
  resolved: 'resolved',
  recovered: 'resolved',
  recovering: 'resolved',
  recovery: 'resolved',
  cleared: 'resolved',
  normal: 'resolved',
  healthy: 'resolved',
  stable: 'resolved',
  firing: 'firing',
  ongoing: 'firing',
  active: 'firing',
  alerting: 'firing',
  degraded: 'firing',
  unhealthy: 'firing',
};

/** Other paraphrases folded onto one word so they embed alike. */
const SYNONYMS: Readonly<Record<string, string>> = {
  deployed: 'deploy',
  deployment: 'deploy',
  deployments: 'deploy',
  rollout: 'deploy',
  release: 'deploy',
  released: 'deploy',
  configuration: 'config',
  configmap: 'config',
  settings: 'config',
  setting: 'config',
  scaled: 'scale',
  scaling: 'scale',
  replicas: 'scale',
  connections: 'connection',
  refused: 'refused',
  warning: 'warn',
  warnings: 'warn',
};

const STOPWORDS: ReadonlySet<string> = new Set(
  (
    'a an the on in at of for to is are was were be been being has have had do does did after since following ' +
    'from by with and or it its this that these those we our there here went go goes gone got get gets very much ' +
    'some all any detected started began begun seen saw observed see noticed noticing showing shows show is as ' +
    'into onto over under than then when which who what while service services metric metrics also just now ' +
    'still again about around across per level levels times time its'
  ).split(' '),
);

/** Ids, addresses, times and numbers: never part of what an incident means. */
const VOLATILE: readonly (readonly [RegExp, string])[] = [
  [/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, ' '],
  [/\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(z|[+-]\d{2}:?\d{2})?/g, ' '],
  [/\d{4}-\d{2}-\d{2}/g, ' '],
  [/\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?/g, ' '],
  [/\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b/g, ' '],
  [/\b0x[0-9a-f]+\b/g, ' '],
  [/\b\d+(\.\d+)?\s?(ms|us|µs|ns|s|sec|secs|m|min|mins|h|kb|mb|gb|tb|kib|mib|gib|%)(?![a-z])/g, ' '],
  [/\b5\d\d\b/g, ' 5xx '],
  [/\b4\d\d\b/g, ' 4xx '],
  [/\bv?\d+(\.\d+)+\b/g, ' '],
  [/(^|[^a-z0-9_.-])0(?=$|[^a-z0-9_.-])/g, '$1 zero '],
];

/** A part of a name that identifies one instance, run or moment rather than a kind of thing. */
function isVolatilePart(p: string): boolean {
  if (p.length === 0) return true;
  if (/^\d+$/.test(p)) return true;
  const hasDigit = /\d/.test(p);
  if (hasDigit && /^[0-9a-f]{4,}$/.test(p)) return true;
  if (hasDigit && /[a-z]/.test(p) && p.length >= 5) return true;
  return false;
}

function cleanText(text: string): string {
  let s = text.slice(0, MAX_TEXT).normalize('NFKC').toLowerCase();
  s = s.replace(/n['’]t\b/g, ' not');
  for (const [re, to] of VOLATILE) s = s.replace(re, to);
  return s;
}

/** The service a raw token names: itself, or a known service followed by instance or pod suffixes. */
function matchService(raw: string, services: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const s of services) {
    if (raw === s || raw.startsWith(`${s}-`) || raw.startsWith(`${s}_`)) {
      const rest = raw.slice(s.length + 1);
      if (raw === s || rest.split(/[-_]/).every(isVolatilePart)) {
        if (best === undefined || s.length > best.length) best = s;
      }
    }
  }
  return best;
}

function wordToken(w: string): Token[] {
  const implicit = IMPLICIT[w];
  if (implicit)
    return [
      { t: 'subject', v: implicit[0] },
      { t: 'dir', v: implicit[1], implicit: true },
    ];
  const subject = SUBJECTS[w];
  if (subject) return [{ t: 'subject', v: subject }];
  const dir = DIRECTIONS.get(w);
  if (dir) return [{ t: 'dir', v: dir }];
  if (NEGATIONS.has(w)) return [{ t: 'neg' }];
  const state = STATES[w];
  if (state) return [{ t: 'state', v: state }];
  if (STOPWORDS.has(w)) return [];
  return [{ t: 'word', v: SYNONYMS[w] ?? w }];
}

function tokenise(clause: string, services: readonly string[]): Token[] {
  const out: Token[] = [];
  for (const raw of clause.split(/[^\p{L}\p{N}_-]+/u)) {
    if (raw.length === 0) continue;
    const service = matchService(raw, services);
    if (service !== undefined) {
      out.push({ t: 'service', v: service });
      continue;
    }
    for (const part of raw.split(/[-_]+/)) {
      if (isVolatilePart(part)) continue;
      out.push(...wordToken(part));
    }
  }
  return out;
}

function clauses(text: string): string[] {
  return cleanText(text).split(/[.;!?\n,()[\]{}|]+|\b(?:but|while|whereas|however|although)\b/);
}

function tokenText(t: Token): string {
  switch (t.t) {
    case 'neg':
      return 'not';
    case 'word':
    case 'subject':
    case 'dir':
    case 'state':
    case 'service':
      return t.v;
  }
}

/** Canonical words of a free text: volatile parts gone, synonyms folded, stopwords dropped. */
export function canonicalWords(text: string, services: readonly string[] = []): string[] {
  const words: string[] = [];
  for (const c of clauses(text)) {
    for (const t of tokenise(c, services)) {
      if (t.t === 'dir' && t.implicit) continue;
      const w = tokenText(t);
      if (words[words.length - 1] !== w) words.push(w);
    }
  }
  return words.slice(0, MAX_WORDS_PER_LINE);
}

/** A metric name's stable words (`payments_7f9c2a_http_request_duration_seconds` → `payments http request duration seconds`). */
export function metricWords(name: string): string {
  return cleanText(name)
    .split(/[^a-z0-9]+/)
    .filter((p) => !isVolatilePart(p))
    .join(' ');
}

/** How far (in tokens) a negation reaches forward. */
const NEGATION_REACH = 3;

/**
 * Polarity facts of a text: for each subject, the direction it moved, `none`
 * when negated without one ("no errors"), `not-up`/`not-down` when the
 * movement is negated ("latency did not increase" is not "latency
 * decreased"), and `state:resolved`/`state:firing`. Each fact is attributed to
 * the services named in the same clause, or `*`. A direction with no subject
 * in its clause becomes `any:<direction>`.
 */
export function polarityFacts(text: string, services: readonly string[] = []): string[] {
  const facts = new Set<string>();
  for (const clause of clauses(text)) {
    const tokens = tokenise(clause, services);
    const named = [...new Set(tokens.flatMap((t) => (t.t === 'service' ? [t.v] : [])))];
    const owners = named.length > 0 ? named : ['*'];
    const emit = (fact: string) => {
      for (const o of owners) facts.add(`${o}:${fact}`);
    };
    const subjects: { at: number; v: string }[] = [];
    tokens.forEach((t, i) => {
      if (t.t === 'subject') subjects.push({ at: i, v: t.v });
    });
    let negAt = -Infinity;
    const negated = (i: number) => {
      if (i - negAt <= NEGATION_REACH) {
        negAt = -Infinity;
        return true;
      }
      return false;
    };
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      switch (t.t) {
        case 'neg':
          negAt = i;
          break;
        case 'dir': {
          // "slowed down" is one movement: the implicit direction already said it.
          const prev = tokens[i - 1];
          if (!t.implicit && prev?.t === 'dir' && prev.implicit) break;
          const neg = negated(i);
          let subject = 'any';
          let distance = Infinity;
          for (const s of subjects) {
            const d = Math.abs(s.at - i);
            // Ties go to the subject before the direction ("latency up, errors ...").
            if (d < distance || (d === distance && s.at < i)) {
              distance = d;
              subject = s.v;
            }
          }
          emit(`${subject}:${neg ? `not-${t.v}` : t.v}`);
          break;
        }
        case 'state': {
          const neg = negated(i);
          const v = neg ? (t.v === 'resolved' ? 'firing' : 'resolved') : t.v;
          emit(`state:${v}`);
          break;
        }
        case 'subject': {
          const next = tokens[i + 1];
          // "no errors" (and no direction follows to take the negation instead).
          if (i - negAt <= NEGATION_REACH - 1 && !(next?.t === 'dir')) {
            negAt = -Infinity;
            emit(`${t.v}:none`);
          }
          break;
        }
        case 'word':
        case 'service':
          break;
      }
    }
  }
  return [...facts].sort();
}

function serviceName(s: string): string {
  return s.trim().toLowerCase();
}

function uniqueSorted(xs: Iterable<string>): string[] {
  return [...new Set(xs)].sort();
}

/**
 * Normalises an incident's evidence into its scope, guard and embedding text.
 * Deterministic: the same evidence in any order gives the same result.
 */
export function normaliseEvidence(evidence: CacheEvidence): NormalisedEvidence {
  const anomalies = evidence.anomalies ?? [];
  const services = uniqueSorted(
    [...evidence.services, ...anomalies.map((a) => a.service)].map(serviceName).filter((s) => s.length > 0),
  );
  // Longest first, so `checkout-api` wins over `checkout` when matching tokens.
  const known = [...services].sort((a, b) => b.length - a.length);

  // Fault signature: a class fires if any of its series still does.
  const perService = new Map<string, Map<string, boolean>>();
  for (const a of anomalies) {
    if (!FAULT_CLASSES.has(a.signal)) continue;
    const s = serviceName(a.service);
    const classes = perService.get(s) ?? new Map<string, boolean>();
    const k = `${a.signal}:${a.direction}`;
    classes.set(k, (classes.get(k) ?? false) || a.resolved !== true);
    perService.set(s, classes);
  }
  const signature = [...perService.keys()]
    .sort()
    .map((s) => {
      const classes = perService.get(s)!;
      const parts = [...classes.keys()].sort().map((k) => (classes.get(k) ? k : `${k}~resolved`));
      return `${s}[${parts.join(',')}]`;
    })
    .join(';');

  const guard = new Set<string>();
  for (const n of (evidence.notes ?? []).slice(0, MAX_NOTES))
    for (const f of polarityFacts(n, known)) guard.add(f);
  // Log lines are noisy ("shutting down", "health ok"): only facts about a named subject count.
  for (const l of (evidence.logs ?? []).slice(0, MAX_LOG_LINES)) {
    const own = serviceName(l.service);
    for (const f of polarityFacts(l.text, known)) {
      const [owner, subject] = f.split(':');
      if (subject === 'any' || subject === 'state') continue;
      guard.add(owner === '*' ? `${own}${f.slice(1)}` : f);
    }
  }
  const guardList = [...guard].sort();

  const lines = new Set<string>();
  lines.add(`services ${services.join(' ')}`);
  for (const a of anomalies) {
    const s = serviceName(a.service);
    lines.add(`signal ${s} ${a.signal} ${a.direction}${a.resolved === true ? ' resolved' : ''}`);
    const words = metricWords(a.metric);
    if (words.length > 0) lines.add(`metric ${s} ${words}`);
  }
  for (const c of evidence.changes ?? []) lines.add(`change ${serviceName(c.service)} ${c.kind}`);
  for (const r of evidence.restarts ?? []) lines.add(`restart ${serviceName(r.service)}`);
  for (const l of (evidence.logs ?? []).slice(0, MAX_LOG_LINES)) {
    const words = canonicalWords(l.text, known);
    const level = canonicalWords(l.level ?? '').join(' ');
    if (words.length > 0)
      lines.add(`log ${serviceName(l.service)} ${level} ${words.join(' ')}`.replace(/ +/g, ' '));
  }
  for (const n of (evidence.notes ?? []).slice(0, MAX_NOTES)) {
    const words = canonicalWords(n, known);
    if (words.length > 0) lines.add(`note ${words.join(' ')}`);
  }
  const text = [...lines].sort().join('\n');

  // JSON, so no service name or fact can run into the next and make two scopes read alike.
  const scope = JSON.stringify({ services, signature, guard: guardList });
  return { services, signature, guard: guardList, scope, text };
}
