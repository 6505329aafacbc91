/**
 * The analyst's model path: the semantic cache in front of the LLM analyst,
 * every call in the token ledger, and the cache invalidated by the changes
 * the evidence shows (see analyst-agent.ts for how the agent uses it).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { LocalEmbedder, SemanticCache, TokenLedger, utcDay } from '../../governance/index.ts';
import type { Budgets, CacheKey } from '../../governance/index.ts';
import { analyseDeterministically } from './deterministic-analyst.ts';
import type { IncidentEvidence, RootCauseConclusion } from './evidence.ts';
import type { FallbackReason } from './graph.ts';
import { LlmAnalyst } from './llm-analyst.ts';
import type { LlmModelConfig } from './llm-model.ts';
import type { LlmUsage } from './llm-usage.ts';
import type { LlmStep } from './prompt.ts';
import { Serial } from './serial.ts';

/** How long a seen-change marker is kept (longer than any change stays in an incident's evidence). */
const CHANGE_MARK_TTL_MS = 7 * 24 * 3600 * 1000;

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
