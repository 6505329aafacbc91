/**
 * The deterministic root-cause analyst: pure code that weighs an incident's
 * evidence against the signature of every fault kind on every candidate
 * service and concludes the best match, with a confidence and the sentences
 * that support it. It is the analyst when no LLM is configured and the
 * fallback when one fails, so it never throws and, given the same evidence,
 * always gives the same conclusion.
 *
 * Candidates are the services the evidence concerns (suspects, services with
 * anomalies, changes, restarts or log lines, services their callers point
 * at, past root causes) that the environment knows. Each (service, kind)
 * hypothesis scores the signature's support minus what speaks against it
 * (see fault-signatures.ts); a correlator suspect and a past incident with
 * the same services add a little. The confidence grows with the best score
 * and with its lead over the next hypothesis.
 *
 * Log text is data: it is counted, never read for names or instructions,
 * and never quoted in the conclusion.
 */
import { FaultKind } from '../../choreography/index.ts';
import type { IncidentEvidence, RootCauseConclusion } from './evidence.ts';
import { readEvidence } from './evidence-features.ts';
import type { EvidenceReading, FeatureValue, ReadingOptions, ServiceFeatures } from './evidence-features.ts';
import { FAULT_SIGNATURES, REQUIRED_STRENGTH } from './fault-signatures.ts';
import type { FaultSignature, SignatureTerm } from './fault-signatures.ts';

/** Options of {@link analyseDeterministically}. */
export interface DeterministicAnalystOptions extends ReadingOptions {
  /**
   * Most evidence sentences in the conclusion.
   * @default 12
   */
  readonly maxEvidence?: number;
  /**
   * Most hypotheses listed in the conclusion.
   * @default 10
   */
  readonly maxHypotheses?: number;
}

/** How one hypothesis fares against the evidence. */
export interface HypothesisAssessment {
  readonly service: string;
  readonly kind: FaultKind;
  /** 0 or more; comparable between hypotheses of one incident. */
  readonly score: number;
  /** Sentences for the hypothesis, strongest first. */
  readonly support: readonly string[];
  /** Sentences against it, strongest first. */
  readonly against: readonly string[];
}

const KINDS: readonly FaultKind[] = FaultKind.options;
/** What a correlator suspect with some support gains. */
const SUSPECT_BONUS = 0.25;
/** What a past incident with exactly these services adds to its root cause. */
const PAST_PRIOR = 0.6;
/** Least overlap (Jaccard) of services for a past incident to count. */
const PAST_MIN_OVERLAP = 0.5;
/** The best score at which the confidence is about 63 % of its separation part. */
const CONFIDENCE_SCALE = 2.5;
/** Least contribution of a term for it to be named in the evidence. */
const MIN_NAMED = 0.05;
const MAX_SENTENCE = 600;

interface TermScore {
  readonly term: SignatureTerm;
  readonly value: FeatureValue;
  readonly contribution: number;
}

interface Scored {
  readonly service: string;
  readonly kind: FaultKind;
  readonly score: number;
  readonly support: readonly TermScore[];
  readonly against: readonly TermScore[];
  readonly suspect: boolean;
  readonly past?: { readonly incidentId: string; readonly overlap: number };
}

/**
 * The root cause of the incident `evidence` describes: the best-scoring
 * (service, kind), a confidence in [0, 1] and the evidence sentences for it.
 * With nothing to go on it names the first suspect (or known service) with
 * confidence 0. Only services in `knownServices` are named (when that list
 * is empty, the incident's own services and suspects).
 */
export function analyseDeterministically(
  evidence: IncidentEvidence,
  options: DeterministicAnalystOptions = {},
): RootCauseConclusion {
  const maxEvidence = Math.max(1, options.maxEvidence ?? 12);
  const maxHypotheses = Math.max(1, options.maxHypotheses ?? 10);
  let reading: EvidenceReading;
  let scored: Scored[];
  try {
    reading = readEvidence(evidence, options);
    scored = scoreAll(evidence, reading);
  } catch {
    // Evidence odd enough to trip the reading (it came from outside): conclude nothing rather than fail.
    return fallback(evidence);
  }
  const best = scored[0];
  if (!best) return fallback(evidence);
  const second = scored[1]?.score ?? 0;
  return {
    service: best.service,
    kind: best.kind,
    confidence: confidence(best.score, second),
    evidence: sentences(best, reading, maxEvidence),
    hypotheses: scored
      .map((h) => ({ service: h.service, kind: h.kind, score: round3(h.score) }))
      .filter((h) => h.score > 0)
      .slice(0, maxHypotheses),
  };
}

/**
 * How the hypothesis that `kind` struck `service` fares against `evidence`:
 * its score and the sentences for and against it. For an analyst that
 * hypothesises on its own (the LLM graph's "check" step).
 */
export function assessHypothesis(
  evidence: IncidentEvidence,
  hypothesis: { readonly service: string; readonly kind: FaultKind },
  options: ReadingOptions = {},
): HypothesisAssessment {
  const reading = readEvidence(evidence, options);
  const features = reading.features.get(hypothesis.service);
  const signature = FAULT_SIGNATURES[hypothesis.kind];
  if (!features || !signature) {
    return {
      service: hypothesis.service,
      kind: hypothesis.kind,
      score: 0,
      support: [],
      against: [`${hypothesis.service} is not a service of this environment`],
    };
  }
  const h = scoreHypothesis(evidence, hypothesis.service, signature, features);
  return {
    service: h.service,
    kind: h.kind,
    score: round3(h.score),
    support: termSentences(h.support, Number.POSITIVE_INFINITY),
    against: termSentences(h.against, Number.POSITIVE_INFINITY),
  };
}

function scoreAll(evidence: IncidentEvidence, reading: EvidenceReading): Scored[] {
  const candidates = reading.candidates.length > 0 ? reading.candidates : reading.known;
  const out: Scored[] = [];
  for (const service of candidates) {
    const features = reading.features.get(service);
    if (!features) continue;
    for (const kind of KINDS) out.push(scoreHypothesis(evidence, service, FAULT_SIGNATURES[kind], features));
  }
  return out.sort(compareScored);
}

function scoreHypothesis(
  evidence: IncidentEvidence,
  service: string,
  signature: FaultSignature,
  features: ServiceFeatures,
): Scored {
  const suspect = list(evidence.suspects).includes(service);
  const past = pastPrior(evidence, service, signature.kind);
  const applies = signature.requires.some((f) => features[f].strength >= REQUIRED_STRENGTH);
  const support = applies ? signature.support.map((t) => termScore(t, features)) : [];
  const against = applies ? signature.against.map((t) => termScore(t, features)) : [];
  const raw = Math.max(0, sum(support) - sum(against));
  const score = raw + (raw > 0 && suspect ? SUSPECT_BONUS : 0) + (past ? PAST_PRIOR * past.overlap : 0);
  return {
    service,
    kind: signature.kind,
    score: round9(score),
    support: support.filter((t) => t.contribution >= MIN_NAMED).sort(compareTerms),
    against: against.filter((t) => t.contribution >= MIN_NAMED).sort(compareTerms),
    suspect,
    ...(past ? { past } : {}),
  };
}

function termScore(term: SignatureTerm, features: ServiceFeatures): TermScore {
  const value = features[term.feature];
  const explained = Math.max(0, ...(term.unless ?? []).map((f) => features[f].strength));
  return { term, value, contribution: round9(term.weight * value.strength * (1 - explained)) };
}

function sum(terms: readonly TermScore[]): number {
  return terms.reduce((n, t) => n + t.contribution, 0);
}

/** The most similar past incident whose root cause is this hypothesis, if similar enough. */
function pastPrior(
  evidence: IncidentEvidence,
  service: string,
  kind: FaultKind,
): { incidentId: string; overlap: number } | undefined {
  const now = new Set([...list(evidence.services), ...list(evidence.suspects)]);
  if (now.size === 0) return undefined;
  let best: { incidentId: string; overlap: number } | undefined;
  for (const p of list(evidence.pastIncidents)) {
    if (p.rootCause?.service !== service || p.rootCause.kind !== kind) continue;
    const then = new Set(list(p.services));
    const shared = [...then].filter((s) => now.has(s)).length;
    const union = new Set([...then, ...now]).size;
    const overlap = union === 0 ? 0 : shared / union;
    if (overlap < PAST_MIN_OVERLAP) continue;
    if (!best || overlap > best.overlap || (overlap === best.overlap && p.incidentId < best.incidentId))
      best = { incidentId: String(p.incidentId), overlap };
  }
  return best;
}

/** Best first; ties: a suspect first, then by service name, then in the order of the fault kinds. */
function compareScored(a: Scored, b: Scored): number {
  if (a.score !== b.score) return b.score - a.score;
  if (a.suspect !== b.suspect) return a.suspect ? -1 : 1;
  if (a.service !== b.service) return a.service < b.service ? -1 : 1;
  return KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind);
}

function compareTerms(a: TermScore, b: TermScore): number {
  if (a.contribution !== b.contribution) return b.contribution - a.contribution;
  return a.term.feature < b.term.feature ? -1 : a.term.feature > b.term.feature ? 1 : 0;
}

/**
 * Grows with the best score (how much evidence there is) and with its lead
 * over the next hypothesis (how little else explains it): two hypotheses
 * that fit equally well give at most about a third.
 */
function confidence(best: number, second: number): number {
  if (!(best > 0)) return 0;
  const strength = 1 - Math.exp(-best / CONFIDENCE_SCALE);
  const separation = Math.max(0, Math.min(1, (best - second) / best));
  return round3(Math.max(0, Math.min(1, strength * (0.35 + 0.65 * separation))));
}

function sentences(best: Scored, reading: EvidenceReading, max: number): string[] {
  const out = termSentences(best.support, max);
  const graph = graphSentence(best, reading);
  if (graph) out.push(graph);
  if (best.past)
    out.push(
      `past incident ${best.past.incidentId}, with the same services, had this root cause (${best.kind} of ${best.service})`,
    );
  if (out.length === 0)
    out.push(`no evidence points at a fault; ${best.service} is only a guess (${best.kind})`);
  return out.slice(0, max).map((s) => (s.length > MAX_SENTENCE ? `${s.slice(0, MAX_SENTENCE - 1)}…` : s));
}

function termSentences(terms: readonly TermScore[], max: number): string[] {
  const out: string[] = [];
  for (const t of terms) {
    if (out.length >= max) break;
    const shown = t.value.sources.slice(0, 2).map((s) => s.text);
    if (shown.length === 0) continue;
    const more = t.value.sources.length > 2 ? ` (and ${t.value.sources.length - 2} more)` : '';
    out.push(`${shown.join('; ')}${more}: ${t.term.why}`);
  }
  return out;
}

/** Where the service sits: healthy dependencies below, symptomatic callers above. */
function graphSentence(best: Scored, reading: EvidenceReading): string | undefined {
  if (best.kind === 'traffic_surge' || best.kind === 'log_injection' || best.score <= 0) return undefined;
  const below = reading.descendants.get(best.service) ?? [];
  const downstream = reading.features.get(best.service)?.downstream.strength ?? 0;
  const callers = (reading.ancestors.get(best.service) ?? []).filter(
    (s) => (reading.features.get(s)?.otherHarm.strength ?? 0) > 0.3,
  );
  const above =
    callers.length === 0
      ? ''
      : callers.length === 1
        ? `; ${callers[0]}, which calls it, shows symptoms that follow from it`
        : `; ${callers.join(', ')}, which call it, show symptoms that follow from it`;
  if (below.length === 0)
    return callers.length > 0
      ? `${best.service} calls no other service, so its symptoms are its own${above}`
      : undefined;
  if (downstream < 0.2)
    return `${best.service}'s dependencies (${below.join(', ')}) show no symptoms of their own, so the trouble starts at ${best.service}${above}`;
  return undefined;
}

function fallback(evidence: IncidentEvidence): RootCauseConclusion {
  const known = list(evidence.knownServices).filter((s) => typeof s === 'string' && s.length > 0);
  const pool = known.length > 0 ? known : [...list(evidence.suspects), ...list(evidence.services)];
  const allowed = new Set(pool);
  const suspect = [...list(evidence.suspects)].filter((s) => allowed.has(s)).sort()[0];
  const service = suspect ?? [...pool].sort()[0] ?? 'unknown';
  const kind = KINDS[0] as FaultKind;
  return {
    service,
    kind,
    confidence: 0,
    evidence: [`no evidence points at a fault; ${service} is only a guess`],
    hypotheses: [],
  };
}

function list<T>(xs: readonly T[] | undefined): readonly T[] {
  return Array.isArray(xs) ? (xs as readonly T[]) : [];
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function round9(x: number): number {
  return Math.round(x * 1e9) / 1e9;
}
