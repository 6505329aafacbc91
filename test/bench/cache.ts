/**
 * The cache bench: how many model tokens the semantic cache saves on a
 * replayed stream of recurring incidents, and whether it ever answers wrong.
 *
 * 100 incidents over a six-service fleet, from 12 distinct root causes (fault
 * kind × culprit); after the first of each, the rest recur at random, each
 * told differently, as another environment would tell it: other instance and
 * pod names, other values and scores, other times, anomalies and log lines
 * in another order, an unrelated runtime anomaly now and then, the log line
 * about the fault reworded. A bad deploy recurs as the same release reaching
 * another environment.
 *
 * The model is the local OpenAI-compatible server (the real client, streaming
 * over HTTP) playing a good model: it reads the incident id from the prompt's
 * data and answers that incident's true root cause, with hypotheses and
 * evidence sentences drawn from the evidence. Tokens are the server's own
 * counts (cl100k_base), summed over every chat request.
 *
 * Baseline, in the same run: every incident through the real LlmAnalyst with
 * no cache. Then the same incidents through the analyst agent's own path
 * (`CachedLlmAnalyst`: change invalidation, SemanticCache, TokenLedger, the
 * same LlmAnalyst) from a cold cache. A cache hit is wrong when its answer is
 * not the incident's true root cause. Token counts are deterministic for a
 * seed, so the run is repeated over three seeds (three different draws of
 * the paraphrases) and the median reported; wrong answers are summed.
 */
import { Redis } from 'ioredis';
import { CachedLlmAnalyst } from '../../agents/analyst/cached-llm-analyst.ts';
import { analyseDeterministically } from '../../agents/analyst/deterministic-analyst.ts';
import type { IncidentEvidence } from '../../agents/analyst/evidence.ts';
import { LlmAnalyst } from '../../agents/analyst/llm-analyst.ts';
import type { LlmModelConfig } from '../../agents/analyst/llm-model.ts';
import type { FaultKind } from '../../choreography/index.ts';
import { faultEvidence, logLine, series } from '../support/evidence-fixtures.ts';
import { deleteRedisKeys } from '../support/redis-keys.ts';
import { testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';
import { startOpenAiServer } from '../support/openai-server.ts';
import type { ChatRequest, OpenAiServer } from '../support/openai-server.ts';
import { uniform } from '../support/random.ts';
import { median } from './stats.ts';

const INCIDENTS = 100;
const SEEDS = [11, 23, 37];
const API_KEY = 'sk-bench-cache';

/** The fleet: frontend → {checkout, search}; checkout → {payments, inventory}; search → catalog. */
const FLEET: Readonly<Record<string, readonly string[]>> = {
  frontend: ['checkout', 'search'],
  checkout: ['payments', 'inventory'],
  search: ['catalog'],
  payments: [],
  inventory: [],
  catalog: [],
};

interface RootCause {
  readonly kind: FaultKind;
  readonly service: string;
}

const ROOT_CAUSES: readonly RootCause[] = [
  { kind: 'latency', service: 'payments' },
  { kind: 'error_burst', service: 'inventory' },
  { kind: 'cpu_spin', service: 'search' },
  { kind: 'memory_leak', service: 'checkout' },
  { kind: 'bad_deploy', service: 'payments' },
  { kind: 'crash_loop', service: 'catalog' },
  { kind: 'pool_exhaustion', service: 'checkout' },
  { kind: 'disk_fill', service: 'inventory' },
  { kind: 'traffic_surge', service: 'frontend' },
  { kind: 'error_burst', service: 'catalog' },
  { kind: 'latency', service: 'search' },
  { kind: 'log_injection', service: 'frontend' },
];

/** Ways the one log line about the fault is written; `#` is a number, `@` an instance id. */
const REWORDED: Readonly<Record<FaultKind, readonly string[]>> = {
  latency: [
    'slow upstream response: took #ms on @',
    'request on @ was slow, # ms spent waiting on upstream',
    'upstream answered slowly after #ms',
  ],
  error_burst: [
    'unhandled exception while serving request on @ (# so far)',
    'request handler threw an exception, # in the last minute',
    'exception in handler on @: internal error #',
  ],
  cpu_spin: [
    'event loop blocked for #ms on @',
    'handler on @ blocked the event loop (# ms)',
    'blocked event loop: # ms without a tick',
  ],
  memory_leak: [
    'heap usage keeps growing on @: # MB',
    'heap on @ grew to # MB',
    'heap growing steadily, now # MB',
  ],
  bad_deploy: [
    'new version started on @ (build #)',
    'instance @ started the new version, build #',
    'started new version build # on @',
  ],
  crash_loop: [
    'process exited with code # on @',
    'exited unexpectedly (code #), restarting @',
    'process on @ exited with code #',
  ],
  pool_exhaustion: [
    'timed out acquiring a connection after #ms on @',
    'connection acquire timeout (# ms) on @',
    'could not acquire a connection within #ms',
  ],
  disk_fill: [
    'no space left on device writing journal on @ (# bytes)',
    'journal write on @: no space left on device',
    'device has no space left, journal segment # not written',
  ],
  traffic_surge: [
    'request queue at # on @',
    'queue of requests reached # on @',
    'incoming request queue at #',
  ],
  log_injection: [
    'unrecognised message format from client # on @',
    'client # sent an unrecognised message format',
    'message format not recognised from client # (@)',
  ],
};

interface Incident {
  readonly evidence: IncidentEvidence;
  readonly truth: RootCause;
}

function hex(u: () => number, n: number): string {
  let s = '';
  while (s.length < n) s += Math.floor(u() * 16).toString(16);
  return s;
}

function shuffled<T>(xs: readonly T[], u: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** One occurrence of a root cause, told as environment `n` would tell it. */
function occurrence(cause: RootCause, n: number, u: () => number): Incident {
  const base = faultEvidence(cause.kind, cause.service, FLEET);
  const shift = Math.floor(u() * 30 * 24 * 3600_000);
  const pods = new Map<string, string>();
  const pod = (instance: string) => {
    const service = instance.replace(/-\d+$/, '');
    if (!pods.has(instance)) pods.set(instance, `${service}-${hex(u, 6)}-${hex(u, 5)}`);
    return pods.get(instance)!;
  };
  const scale = () => 0.7 + u() * 0.7;
  const anomalies = base.anomalies.map((a) => ({
    ...a,
    ...(a.instance === undefined ? {} : { instance: pod(a.instance) }),
    value: a.value * scale(),
    baseline: a.baseline * scale(),
    score: Math.min(1, Math.max(0.05, a.score + (u() - 0.5) * 0.1)),
    startMs: a.startMs + shift + Math.floor(u() * 2000),
  }));
  // An unrelated runtime blip on a service already involved: detail, never a symptom.
  if (u() < 0.4) {
    const s = base.services[Math.floor(u() * base.services.length)]!;
    const noise = [series.gcDuration(s), series.eventLoopLag(s)].filter((a) => a.signal === 'runtime');
    if (noise[0]) anomalies.push({ ...noise[0], startMs: noise[0].startMs + shift, score: 0.3 + u() * 0.3 });
  }
  const phrasing = REWORDED[cause.kind];
  const instance = pod(`${cause.service}-0`);
  const text = phrasing[Math.floor(u() * phrasing.length)]!.replace(
    '#',
    String(Math.floor(100 + u() * 9000)),
  ).replace('@', instance);
  const reworded = logLine(cause.service, text, 'warn', 3_000 + Math.floor(u() * 4000));
  const logs = shuffled(
    [
      ...base.logs.map((l) => ({
        ...l,
        instance: pod(l.instance ?? `${l.service}-0`),
        atMs: l.atMs + shift,
      })),
      { ...reworded, instance, atMs: reworded.atMs + shift },
    ],
    u,
  );
  return {
    truth: cause,
    evidence: {
      ...base,
      incidentId: `inc-${n}-${hex(u, 8)}`,
      environment: `env-${1 + Math.floor(u() * 8)}`,
      openedAtMs: base.openedAtMs + shift,
      anomalies: shuffled(anomalies, u),
      changes: base.changes.map((c) => ({ ...c, atMs: c.atMs + shift })),
      restarts: shuffled(
        base.restarts.map((r) => ({ ...r, instance: pod(r.instance), atMs: r.atMs + shift })),
        u,
      ),
      logs,
    },
  };
}

/** The replay: each root cause once, then recurrences at random, all in a random order. */
function incidents(seed: number): Incident[] {
  const u = uniform(seed);
  const causes = [...ROOT_CAUSES];
  while (causes.length < INCIDENTS) causes.push(ROOT_CAUSES[Math.floor(u() * ROOT_CAUSES.length)]!);
  return shuffled(causes, u).map((c, i) => occurrence(c, i, u));
}

/** The data block of a prompt's user message, parsed. */
function promptData(r: ChatRequest): Record<string, unknown> {
  const user = r.messages.find((m) => m.role === 'user')?.content ?? '';
  const start = user.indexOf('\n');
  const end = user.lastIndexOf('\nEND UNTRUSTED DATA');
  return JSON.parse(user.slice(start + 1, end)) as Record<string, unknown>;
}

/** A good model: the true root cause, with hypotheses and evidence taken from the prompt. */
function goodModel(truth: Map<string, RootCause>) {
  return (r: ChatRequest): string => {
    const data = promptData(r);
    const e = data['evidence'] as {
      incidentId: string;
      services: string[];
      anomalies: { service: string; metric: string; signal: string; direction: string }[];
      changes: { service: string; kind: string; to?: string }[];
    };
    const t = truth.get(e.incidentId);
    if (!t) throw new Error(`bench model: unknown incident ${e.incidentId}`);
    const own = e.anomalies.filter((a) => a.service === t.service);
    const system = r.messages.find((m) => m.role === 'system')?.content ?? '';
    if (system.includes('Task: propose')) {
      const others = e.services.filter((s) => s !== t.service).slice(0, 2);
      return JSON.stringify({
        hypotheses: [
          {
            service: t.service,
            kind: t.kind,
            why: `${own.length} symptoms of its own, its dependencies look healthy`,
          },
          ...others.map((s) => ({
            service: s,
            kind: 'latency',
            why: `${s} shows symptoms too, likely downstream effects`,
          })),
        ],
      });
    }
    const evidence = [
      ...own.slice(0, 4).map((a) => `${t.service} ${a.metric} went ${a.direction} (${a.signal})`),
      ...e.changes
        .filter((c) => c.service === t.service)
        .map((c) => `${c.service} ${c.kind} to ${c.to ?? '?'} shortly before`),
      `the services calling ${t.service} only follow it`,
    ];
    return JSON.stringify({
      service: t.service,
      kind: t.kind,
      confidence: 0.85,
      evidence: evidence.slice(0, 6),
    });
  };
}

function serverTokens(server: OpenAiServer): number {
  return server
    .chatRequests()
    .reduce((n, r) => n + (r.usage?.promptTokens ?? 0) + (r.usage?.completionTokens ?? 0), 0);
}

interface Round {
  readonly tokensWithout: number;
  readonly tokensWith: number;
  readonly hits: number;
  readonly wrongHits: number;
  readonly wrongWithout: number;
  readonly wrongWith: number;
  readonly ledgerTokens: number;
  readonly ledgerCacheHits: number;
  /** Misses of a root cause the cache had already answered once (the paraphrase or an invalidation defeated it). */
  readonly repeatMisses: number;
  /** Cache entries dropped because a deploy or config change touched their services. */
  readonly invalidated: number;
}

async function round(
  seed: number,
  env: TestEnv,
  server: OpenAiServer,
  redis: Redis,
  model: LlmModelConfig,
): Promise<Round> {
  const replay = incidents(seed);
  const truth = new Map(replay.map((i) => [i.evidence.incidentId, i.truth]));
  const namespace = env.config.namespace;
  await deleteRedisKeys(redis, `${namespace}:*`);

  server.reset();
  server.setResponder(goodModel(truth));
  const plain = await LlmAnalyst.create({
    model,
    pool: env.pool,
    schema: namespace,
    deterministic: analyseDeterministically,
  });
  let wrongWithout = 0;
  for (const i of replay) {
    const r = await plain.analyse(i.evidence, { analysisId: `base-${seed}-${i.evidence.incidentId}` });
    if (r.conclusion.service !== i.truth.service || r.conclusion.kind !== i.truth.kind) wrongWithout++;
  }
  const tokensWithout = serverTokens(server);

  server.reset();
  server.setResponder(goodModel(truth));
  const cached = await CachedLlmAnalyst.create({ redis, pool: env.pool, namespace, model });
  let hits = 0;
  let wrongHits = 0;
  let wrongWith = 0;
  let repeatMisses = 0;
  const seen = new Set<string>();
  for (const i of replay) {
    const r = await cached.conclude(i.evidence, { analysisId: `cache-${seed}-${i.evidence.incidentId}` });
    const wrong = r.conclusion.service !== i.truth.service || r.conclusion.kind !== i.truth.kind;
    if (wrong) wrongWith++;
    const cause = `${i.truth.kind}@${i.truth.service}`;
    if (r.source === 'cache') {
      hits++;
      if (wrong) wrongHits++;
    } else if (seen.has(cause)) repeatMisses++;
    seen.add(cause);
  }
  const { invalidated } = await cached.cache.stats();
  const tokensWith = serverTokens(server);
  const total = (await cached.ledger.summary({ limit: 1 })).total;
  await deleteRedisKeys(redis, `${namespace}:*`);
  return {
    tokensWithout,
    tokensWith,
    hits,
    wrongHits,
    wrongWithout,
    wrongWith,
    ledgerTokens: total.totalTokens,
    ledgerCacheHits: total.cacheHits,
    repeatMisses,
    invalidated,
  };
}

export async function run(): Promise<{ bench: 'cache'; results: Record<string, number> }> {
  const env = await testEnv('benchcache', { SENTINEL_LOG_LEVEL: 'warn' });
  const server = await startOpenAiServer({ apiKey: API_KEY });
  const redis = new Redis(env.config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  try {
    await redis.connect();
    const model: LlmModelConfig = {
      baseUrl: server.baseUrl,
      model: 'bench-model',
      apiKey: API_KEY,
      timeoutMs: 30_000,
    };
    const rounds: Round[] = [];
    for (const seed of SEEDS) {
      const started = performance.now();
      const r = await round(seed, env, server, redis, model);
      rounds.push(r);
      process.stderr.write(
        `[cache] seed ${seed}: ${r.tokensWithout} tokens without the cache, ${r.tokensWith} with it ` +
          `(${r.hits} hits of ${INCIDENTS}, ${r.wrongHits} wrong, ${r.repeatMisses} repeat misses, ${r.invalidated} invalidated; ledger ${r.ledgerTokens} tokens, ${r.ledgerCacheHits} hits) ` +
          `in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
      );
      if (r.ledgerTokens !== r.tokensWith || r.ledgerCacheHits !== r.hits)
        throw new Error(`the ledger disagrees with the server: ${JSON.stringify(r)}`);
    }
    const reduction = rounds.map((r) => 1 - r.tokensWith / r.tokensWithout);
    const mid = rounds[reduction.indexOf(median(reduction))] ?? rounds[0]!;
    const round3 = (x: number) => Math.round(x * 1000) / 1000;
    return {
      bench: 'cache',
      results: {
        tokens_without_cache: mid.tokensWithout,
        tokens_with_cache: mid.tokensWith,
        token_reduction: round3(median(reduction)),
        wrong_cache_answers: rounds.reduce((n, r) => n + r.wrongHits, 0),
        cache_hits: mid.hits,
        repeat_misses: mid.repeatMisses,
        invalidated_entries: mid.invalidated,
        incidents: INCIDENTS,
        rounds: rounds.length,
        min_token_reduction: round3(Math.min(...reduction)),
        wrong_answers_without_cache: rounds.reduce((n, r) => n + r.wrongWithout, 0),
        wrong_answers_with_cache: rounds.reduce((n, r) => n + r.wrongWith, 0),
      },
    };
  } finally {
    await deleteRedisKeys(redis, `${env.config.namespace}:*`).catch(() => undefined);
    redis.disconnect();
    await server.close();
    await env.close();
  }
}
