/**
 * The analyst: for each incident that opens, gather its evidence from the
 * streams and conclude its root cause. Competing replicas share the
 * incidents. The work (gathering, reasoning, a model call) runs outside any
 * transaction; `rca.started` and the reasoning's `rca.token`s are published
 * as they happen (their ids are derived from the analysis, so doing the work
 * again after a crash publishes nothing twice); `rca.completed` is committed
 * with the incident's claim, and says which analyst concluded.
 *
 * Without a model configured (`config.llm` unset) the deterministic analyst
 * concludes and the agent never connects to Redis. With one, an incident goes
 * through {@link CachedLlmAnalyst}:
 *
 * 1. Invalidation. A work agent has one handler, so it cannot also follow
 *    `change.recorded`; instead, every deploy or config change found in the
 *    evidence drops the cached answers of its service the first time any
 *    analyst sees that change (a marker per change in Redis, `SET NX`). A
 *    release is one change however many environments it reaches (keyed by
 *    service, kind and versions; a change without versions by environment
 *    and time), so the incident after a release is analysed afresh, and the
 *    same release failing in the next environment is answered from the cache.
 * 2. The semantic cache. A hit concludes with the cached answer (analyst
 *    `llm`: the model's answer, reused) and is recorded in the token ledger as
 *    a cache hit with no tokens; the model is not called.
 * 3. On a miss, the LLM analyst (LangGraph, checkpointed in PostgreSQL; it
 *    falls back to the deterministic analyst itself). Its streamed answer is
 *    published as `rca.token`s in pieces; each model call is recorded in the
 *    ledger under `<analysisId>-<step>-<attempt>`, so an analysis resumed after
 *    a crash does not count a call twice; the budget hook asks the ledger
 *    before each call (per-incident and per-day USD budgets). A conclusion of
 *    the model is stored in the cache; a deterministic fallback is not.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { createEvent } from '../../choreography/index.ts';
import type { EventData, SentinelEvent } from '../../choreography/index.ts';
import { LocalEmbedder, SemanticCache, TokenLedger, utcDay } from '../../governance/index.ts';
import type { Budgets, CacheKey } from '../../governance/index.ts';
import type { WorkAgentContext, WorkAgentDefinition } from '../runtime/agent-definition.ts';
import { commitEmitter } from '../runtime/work-output.ts';
import { analyseDeterministically } from './deterministic-analyst.ts';
import type { IncidentEvidence, RootCauseConclusion } from './evidence.ts';
import { gatherEvidence } from './gather.ts';
import type { IncidentRef } from './gather.ts';
import { LOG_LINES_METRIC, NEW_SHAPES_METRIC } from '../detector/index.ts';
import { LlmAnalyst } from './llm-analyst.ts';
import type { FallbackReason } from './graph.ts';
import type { LlmModelConfig } from './llm-model.ts';
import type { LlmUsage } from './llm-usage.ts';
import type { LlmStep } from './prompt.ts';

/** How long the analyst lets an incident's evidence arrive before it reads it. */
const SETTLE_MS = 3000;
/** How much longer weak evidence is waited for, and how often it is read again meanwhile. */
const PATIENCE_MS = 15_000;
const PATIENCE_STEP_MS = 5000;
/** Reasoning is streamed in pieces of about this many characters. */
const TOKEN_CHARS = 160;
/** A model's streamed answer is published in pieces of at least this many characters (or up to a line end). */
const STREAM_PIECE_CHARS = 32;
/**
 * Where each source's `rca.token` sequence numbers start when a model is
 * configured: disjoint ranges, so a resumed analysis that streams only its
 * later steps never reuses an earlier step's event ids (an answer is at most
 * 800 tokens, well under a range).
 */
const SEQ_BASE = { hypothesise: 0, conclude: 10_000, repair: 20_000, reasoning: 30_000 } as const;
/** How long a seen-change marker is kept (longer than any change stays in an incident's evidence). */
const CHANGE_MARK_TTL_MS = 7 * 24 * 3600 * 1000;

export interface Analysis {
  readonly analysisId: string;
  readonly incidentId: string;
  readonly environment: string;
  readonly analyst: 'llm' | 'deterministic';
  readonly conclusion: RootCauseConclusion;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('stopped'));
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(new Error('stopped'));
      },
      { once: true },
    );
  });
}

/** The reasoning, as the lines a person reads in the console while it runs. */
export function reasoningOf(c: RootCauseConclusion): string[] {
  const lines = c.hypotheses
    .slice(0, 5)
    .map((h) => `hypothesis: ${h.kind} on ${h.service} (score ${h.score.toFixed(2)})`);
  for (const e of c.evidence) lines.push(`evidence: ${e}`);
  lines.push(`conclusion: ${c.kind} on ${c.service}, confidence ${c.confidence.toFixed(2)}`);
  return pieces(lines);
}

function pieces(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (const line of lines)
    for (let i = 0; i < line.length; i += TOKEN_CHARS) out.push(`${line.slice(i, i + TOKEN_CHARS)}\n`);
  return out;
}

/**
 * Runs async side effects handed over by synchronous callbacks (`onToken`,
 * `onUsage`) one after another, in order; {@link settle} waits for all of
 * them and throws the first failure.
 */
class Serial {
  #chain: Promise<void> = Promise.resolve();
  #error: unknown;
  #failed = false;

  push(task: () => Promise<unknown>): void {
    this.#chain = this.#chain.then(async () => {
      if (this.#failed) return;
      try {
        await task();
      } catch (err) {
        this.#failed = true;
        this.#error = err;
      }
    });
  }

  async settle(): Promise<void> {
    await this.#chain;
    if (this.#failed) throw this.#error;
  }
}

/** Where a conclusion came from. */
export type ConclusionSource = 'cache' | 'model' | 'fallback';

/** What {@link CachedLlmAnalyst.conclude} found. */
export interface CachedConclusion {
  readonly analyst: 'llm' | 'deterministic';
  readonly conclusion: RootCauseConclusion;
  readonly source: ConclusionSource;
  /** Cosine similarity of the cache entry that answered (cache hits). */
  readonly similarity?: number;
  readonly fallbackReason?: FallbackReason;
  /** Model calls this conclusion made now, and their tokens (zero for a cache hit). */
  readonly calls: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
}

export interface CachedLlmAnalystOptions {
  /** The caller's client: it stays open until the caller quits it. */
  readonly redis: Redis;
  /** For the LLM analyst's checkpoints; the caller's, never ended here. */
  readonly pool: pg.Pool;
  /** Redis key prefix and PostgreSQL schema (the Sentinel namespace). */
  readonly namespace: string;
  readonly model: LlmModelConfig;
  /** @default no limits */
  readonly budgets?: Budgets;
  /** Agent role the ledger records calls under. @default 'analyst' */
  readonly agent?: string;
  /** The cache's similarity threshold. @default the cache's own (0.9) */
  readonly cacheThreshold?: number;
}

export interface ConcludeOptions {
  readonly analysisId: string;
  readonly signal?: AbortSignal;
  /** The model's streamed answer, as it comes. */
  readonly onToken?: (text: string, step: LlmStep) => void;
}

/** Per analysis in progress: the ledger call id of the model call about to be made. */
type CallNames = Map<string, { current?: string; attempts: Map<LlmStep, number> }>;

/** The LLM analyst behind the semantic cache, accounted in the token ledger. */
export class CachedLlmAnalyst {
  readonly cache: SemanticCache;
  readonly ledger: TokenLedger;
  readonly #llm: LlmAnalyst;
  readonly #redis: Redis;
  readonly #namespace: string;
  readonly #agent: string;
  readonly #model: string;
  /** Shared with the budget hook, which names each call right before it is made. */
  readonly #calls: CallNames;

  private constructor(
    o: CachedLlmAnalystOptions,
    parts: { cache: SemanticCache; ledger: TokenLedger; llm: LlmAnalyst; calls: CallNames },
  ) {
    this.cache = parts.cache;
    this.ledger = parts.ledger;
    this.#llm = parts.llm;
    this.#calls = parts.calls;
    this.#redis = o.redis;
    this.#namespace = o.namespace;
    this.#agent = o.agent ?? 'analyst';
    this.#model = o.model.model;
  }

  static async create(o: CachedLlmAnalystOptions): Promise<CachedLlmAnalyst> {
    const ledger = new TokenLedger({ redis: o.redis, namespace: o.namespace, budgets: o.budgets ?? {} });
    const cache = new SemanticCache({
      redis: o.redis,
      namespace: o.namespace,
      embedder: new LocalEmbedder(),
      ...(o.cacheThreshold === undefined ? {} : { threshold: o.cacheThreshold }),
    });
    const calls: CallNames = new Map();
    const llm = await LlmAnalyst.create({
      model: o.model,
      pool: o.pool,
      schema: o.namespace,
      deterministic: (e) => analyseDeterministically(e),
      // Without a reservation: concurrent analysts may overspend by one call each (see checkBudget).
      budget: async (r) => {
        const c = calls.get(r.analysisId);
        if (c) {
          const n = (c.attempts.get(r.step) ?? 0) + 1;
          c.attempts.set(r.step, n);
          c.current = `${r.analysisId}-${r.step}-${n}`;
        }
        return (await ledger.checkBudget(r.incidentId, utcDay(Date.now()))).allowed;
      },
    });
    return new CachedLlmAnalyst(o, { cache, ledger, llm, calls });
  }

  /** Concludes the root cause of an incident: from the cache, from the model, or deterministically. */
  async conclude(evidence: IncidentEvidence, options: ConcludeOptions): Promise<CachedConclusion> {
    const { analysisId } = options;
    await this.#invalidateForChanges(evidence);
    const started = performance.now();
    const key: CacheKey = await this.cache.key(evidence);
    const found = await this.cache.lookup(key);
    if (found.hit) {
      const a = found.value.answer;
      await this.ledger.record({
        callId: `${analysisId}-cache`,
        incidentId: evidence.incidentId,
        agent: this.#agent,
        model: found.value.model,
        promptTokens: 0,
        completionTokens: 0,
        latencyMs: performance.now() - started,
        cacheHit: true,
        at: Date.now(),
      });
      return {
        analyst: 'llm',
        source: 'cache',
        similarity: found.similarity,
        conclusion: {
          service: a.service,
          kind: a.kind,
          confidence: a.confidence,
          evidence: a.evidence,
          hypotheses: [{ service: a.service, kind: a.kind, score: a.confidence }],
        },
        calls: 0,
        promptTokens: 0,
        completionTokens: 0,
      };
    }

    const calls = this.#calls;
    calls.set(analysisId, { attempts: new Map() });
    const records = new Serial();
    const usage: LlmUsage[] = [];
    let unnamed = 0;
    try {
      const result = await this.#llm.analyse(evidence, {
        analysisId,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onToken ? { onToken: options.onToken } : {}),
        onUsage: (u) => {
          usage.push(u);
          const callId = calls.get(analysisId)?.current ?? `${analysisId}-call-${++unnamed}`;
          records.push(() =>
            this.ledger.record({
              callId,
              incidentId: evidence.incidentId,
              agent: this.#agent,
              model: u.model,
              promptTokens: u.promptTokens,
              completionTokens: u.completionTokens,
              latencyMs: u.latencyMs,
              cacheHit: false,
              at: Date.now(),
            }),
          );
        },
      });
      await records.settle();
      const promptTokens = usage.reduce((n, u) => n + u.promptTokens, 0);
      const completionTokens = usage.reduce((n, u) => n + u.completionTokens, 0);
      const c = result.conclusion;
      if (result.analyst === 'llm') {
        await this.cache.store(key, {
          answer: {
            service: c.service,
            kind: c.kind,
            confidence: c.confidence,
            evidence: c.evidence.slice(0, 100).map((e) => e.slice(0, 2048)),
          },
          model: usage.at(-1)?.model ?? this.#model,
          promptTokens,
          completionTokens,
        });
      }
      return {
        analyst: result.analyst,
        source: result.analyst === 'llm' ? 'model' : 'fallback',
        conclusion: c,
        ...(result.fallbackReason ? { fallbackReason: result.fallbackReason } : {}),
        calls: usage.length,
        promptTokens,
        completionTokens,
      };
    } finally {
      calls.delete(analysisId);
      await records.settle().catch(() => undefined);
    }
  }

  /** Drops cached answers of services whose deploy or config change this analyst has not seen yet. */
  async #invalidateForChanges(evidence: IncidentEvidence): Promise<void> {
    for (const c of evidence.changes) {
      if (c.kind === 'scale') continue;
      const identity =
        c.from === undefined && c.to === undefined
          ? [c.service, c.kind, evidence.environment, String(c.atMs)]
          : [c.service, c.kind, c.from ?? '', c.to ?? ''];
      const id = createHash('sha256').update(identity.join('\n')).digest('hex').slice(0, 32);
      const mark = `${this.#namespace}:analyst:change:${id}`;
      if ((await this.#redis.set(mark, '1', 'PX', CHANGE_MARK_TTL_MS, 'NX')) !== 'OK') continue;
      try {
        await this.cache.invalidateServices([c.service]);
      } catch (err) {
        // Not invalidated: let the next analysis that sees the change try again.
        await this.#redis.del(mark).catch(() => undefined);
        throw err;
      }
    }
  }
}

/** The analyst's model path when `config.llm` is set: its Redis client, and the analyst behind the cache. */
interface LlmPath {
  readonly redis: Redis;
  readonly analyst: CachedLlmAnalyst;
}

async function llmPath(agent: WorkAgentContext): Promise<LlmPath | undefined> {
  const { config } = agent;
  if (config.llm === undefined) return undefined;
  const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  redis.on('error', (err: Error) => agent.log.warn({ err }, 'Redis connection failed'));
  try {
    await redis.connect();
    const analyst = await CachedLlmAnalyst.create({
      redis,
      pool: agent.pool,
      namespace: config.namespace,
      model: {
        baseUrl: config.llm.baseUrl,
        model: config.llm.model,
        apiKey: config.llm.apiKey,
        fallbacks: config.llm.fallbacks,
        timeoutMs: config.llm.timeoutMs,
      },
      budgets: {
        perIncident: { usd: config.llmBudget.incidentUsd },
        perDay: { usd: config.llmBudget.dayUsd },
      },
    });
    return { redis, analyst };
  } catch (err) {
    redis.disconnect();
    throw err;
  }
}

/**
 * Evidence backed only by log lines (text anyone who can write to a log
 * controls), or that no fault fits well, is worth waiting for: the symptoms
 * that follow a cause take seconds to show. Up to {@link PATIENCE_MS} more.
 */
function weak(evidence: IncidentEvidence): boolean {
  const fromLogs = (a: IncidentEvidence['anomalies'][number]) =>
    a.signal === 'logs' || a.metric === LOG_LINES_METRIC || a.metric === NEW_SHAPES_METRIC;
  const symptoms = evidence.anomalies.filter((a) => a.signal !== 'runtime' && !fromLogs(a));
  return symptoms.length === 0 || analyseDeterministically(evidence).confidence < 0.5;
}

async function gatherPatiently(
  agent: WorkAgentContext,
  incident: IncidentRef,
  signal: AbortSignal,
): Promise<IncidentEvidence> {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const evidence = await gatherEvidence(agent.bus, incident);
    if (Date.now() >= deadline || !weak(evidence)) return evidence;
    await sleep(PATIENCE_STEP_MS, signal);
  }
}

async function analyse(
  agent: WorkAgentContext,
  llm: LlmPath | undefined,
  event: SentinelEvent,
  signal: AbortSignal,
): Promise<Analysis> {
  const d = event.data as EventData<'sentinel.incident.opened.v1'>;
  const analysisId = `rca-${d.incidentId}`;
  const publish = (e: SentinelEvent) => agent.publisher.publish(e);
  const token = (seq: number, text: string) =>
    publish(
      createEvent(
        'sentinel.rca.token.v1',
        { incidentId: d.incidentId, analysisId, seq, text },
        agent.identity,
        {
          cause: event,
          id: `${analysisId}-token-${seq}`,
          subject: d.incidentId,
          correlationid: d.incidentId,
        },
      ),
    );
  await publish(
    createEvent(
      'sentinel.rca.started.v1',
      {
        incidentId: d.incidentId,
        environment: d.environment,
        analysisId,
        analyst: llm ? 'llm' : 'deterministic',
      },
      agent.identity,
      {
        cause: event,
        id: `${analysisId}-started`,
        subject: d.incidentId,
        correlationid: d.incidentId,
      },
    ),
  );
  await sleep(SETTLE_MS, signal);
  const evidence = await gatherPatiently(
    agent,
    {
      incidentId: d.incidentId,
      environment: d.environment,
      openedAtMs: Date.parse(event.time),
      services: d.services,
      suspects: d.suspects,
    },
    signal,
  );

  let analyst: Analysis['analyst'] = 'deterministic';
  let conclusion: RootCauseConclusion;
  let reasoning: string[] = [];
  let reasoningBase = 0;
  if (llm) {
    // The model's answer, published in pieces as it streams; per step, so a resumed
    // analysis numbers the steps it streams again exactly as the first run did.
    const out = new Serial();
    const next: Record<LlmStep, number> = { hypothesise: 0, conclude: 0, repair: 0 };
    let buffer = '';
    let bufferStep: LlmStep | undefined;
    const flush = () => {
      if (bufferStep === undefined || buffer === '') return;
      const seq = SEQ_BASE[bufferStep] + next[bufferStep]++;
      const text = buffer;
      out.push(() => token(seq, text));
      buffer = '';
    };
    let result: CachedConclusion;
    try {
      result = await llm.analyst.conclude(evidence, {
        analysisId,
        signal,
        onToken: (text, step) => {
          if (step !== bufferStep) flush();
          bufferStep = step;
          buffer += text;
          if (buffer.length >= STREAM_PIECE_CHARS || buffer.includes('\n')) flush();
        },
      });
    } finally {
      flush();
      await out.settle();
    }
    analyst = result.analyst;
    conclusion = result.conclusion;
    reasoningBase = SEQ_BASE.reasoning;
    if (result.source === 'cache') {
      reasoning = [
        `semantic cache: a similar incident was concluded before (similarity ${result.similarity?.toFixed(3) ?? '?'})\n`,
        ...reasoningOf(conclusion),
      ];
    } else if (result.source === 'fallback') {
      reasoning = [
        `the model did not conclude (${result.fallbackReason ?? 'unknown'}): deterministic analyst\n`,
        ...reasoningOf(conclusion),
      ];
    }
  } else {
    conclusion = analyseDeterministically(evidence);
    reasoning = reasoningOf(conclusion);
  }
  for (const [i, text] of reasoning.entries()) await token(reasoningBase + i, text);
  return { analysisId, incidentId: d.incidentId, environment: d.environment, analyst, conclusion };
}

export const analyst: WorkAgentDefinition = {
  kind: 'work',
  role: 'analyst',
  mode: 'competing',
  description: 'finds the root cause of each incident from its evidence',
  subscriptions: [{ name: 'incidents', stream: 'events', filter: 'incident.opened', ackWaitMs: 15_000 }],
  async create(agent) {
    const llm = await llmPath(agent);
    return {
      handler: {
        kind: 'work',
        perform: (event, ctx) => analyse(agent, llm, event, ctx.signal),
        async commit(event, result, ctx) {
          const a = result as Analysis;
          const out = await commitEmitter(agent, false, event, ctx);
          out.emit(
            'sentinel.rca.completed.v1',
            {
              incidentId: a.incidentId,
              environment: a.environment,
              analysisId: a.analysisId,
              rootCause: { service: a.conclusion.service, kind: a.conclusion.kind },
              confidence: a.conclusion.confidence,
              evidence: a.conclusion.evidence.slice(0, 100).map((e) => e.slice(0, 2048)),
              analyst: a.analyst,
            },
            { incidentId: a.incidentId, id: `${a.analysisId}-completed` },
          );
        },
      },
      async stop() {
        await llm?.redis.quit();
      },
    };
  },
};
