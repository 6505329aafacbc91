/**
 * The LLM root-cause analyst: runs the analyst graph for one incident against
 * an OpenAI-compatible model with fallbacks, checkpointed in PostgreSQL with
 * the analysis id as the LangGraph thread id. Analysing the same id again
 * resumes where a killed run stopped (without asking the model again for the
 * steps it finished) or, when it had finished, returns the stored conclusion.
 */
import { PostgresSaver } from '@langchain/langgraph-checkpoint-postgres';
import type pg from 'pg';
import { quoteSchema } from '../../choreography/index.ts';
import type { IncidentEvidence, RootCauseConclusion } from './evidence.ts';
import { analystGraph } from './graph.ts';
import type { AnalystStateValue, BudgetHook, DeterministicAnalyst, FallbackReason } from './graph.ts';
import type { MetricsFinding, MetricsQuery } from './llm-checks.ts';
import { chatModelChain } from './llm-model.ts';
import type { ChatChain, LlmModelConfig } from './llm-model.ts';
import type { LlmUsage } from './llm-usage.ts';
import type { LlmStep } from './prompt.ts';

export interface LlmAnalystOptions {
  readonly model: LlmModelConfig;
  /** Where checkpoints are kept. The pool is the caller's: the analyst never ends it. */
  readonly pool: pg.Pool;
  /** PostgreSQL schema of the checkpoint tables (created if missing), e.g. the namespace. */
  readonly schema: string;
  /** The fallback whenever the model cannot, may not, or will not answer validly. */
  readonly deterministic: DeterministicAnalyst;
  /** Asked before every model call; `false` concludes deterministically. @default always allowed */
  readonly budget?: BudgetHook;
  /** Fetches more telemetry while hypotheses are checked. @default none */
  readonly queryMetrics?: (query: MetricsQuery, signal?: AbortSignal) => Promise<MetricsFinding>;
}

export interface AnalyseOptions {
  /** The LangGraph thread id: the same id resumes the same analysis. */
  readonly analysisId: string;
  /** Aborting stops the analysis where it is; the last finished step stays checkpointed. */
  readonly signal?: AbortSignal;
  /** The model's answer text as it streams (for `rca.token` events). */
  readonly onToken?: (text: string, step: LlmStep) => void;
  /** Called once per model call with what it cost. */
  readonly onUsage?: (usage: LlmUsage) => void;
}

export interface LlmAnalysis {
  readonly analysisId: string;
  readonly conclusion: RootCauseConclusion;
  /** Who concluded: the model, or the deterministic analyst as the fallback. */
  readonly analyst: 'llm' | 'deterministic';
  readonly fallbackReason?: FallbackReason;
  /** Model answers refused (unknown service or kind, malformed), with why. */
  readonly refusals: readonly string[];
  /** Whether this call continued a checkpointed analysis rather than starting one. */
  readonly resumed: boolean;
}

/** PostgreSQL errors of two `setup()` calls racing on `CREATE TABLE IF NOT EXISTS`. */
const SETUP_RACE_CODES = new Set(['23505', '42P07', '42P06']);

/**
 * A PostgresSaver in `schema` with its tables in place. `setup()` takes no
 * lock, so replicas starting together can collide on the catalogue; a
 * collision means another one created the table, and trying again finds it.
 */
export async function postgresCheckpointer(pool: pg.Pool, schema: string): Promise<PostgresSaver> {
  quoteSchema(schema); // PostgresSaver quotes the name but does not check it
  const saver = new PostgresSaver(pool, undefined, { schema });
  for (let attempt = 1; ; attempt++) {
    try {
      await saver.setup();
      return saver;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt >= 3 || typeof code !== 'string' || !SETUP_RACE_CODES.has(code)) throw err;
    }
  }
}

export class LlmAnalyst {
  readonly #options: LlmAnalystOptions;
  readonly #checkpointer: PostgresSaver;
  readonly #chain: ChatChain;

  private constructor(options: LlmAnalystOptions, checkpointer: PostgresSaver) {
    this.#options = options;
    this.#checkpointer = checkpointer;
    this.#chain = chatModelChain(options.model);
  }

  /** An analyst whose checkpoint tables exist. */
  static async create(options: LlmAnalystOptions): Promise<LlmAnalyst> {
    return new LlmAnalyst(options, await postgresCheckpointer(options.pool, options.schema));
  }

  /**
   * Finds the root cause of the incident. Throws only when aborted (or when a
   * dependency other than the model fails, e.g. PostgreSQL); every model
   * failure ends in the deterministic analyst's conclusion instead.
   */
  async analyse(evidence: IncidentEvidence, options: AnalyseOptions): Promise<LlmAnalysis> {
    const graph = analystGraph({
      analysisId: options.analysisId,
      chain: this.#chain,
      model: this.#options.model.model,
      deterministic: this.#options.deterministic,
      budget: this.#options.budget,
      queryMetrics: this.#options.queryMetrics,
      onToken: options.onToken,
      onUsage: options.onUsage,
    }).compile({ checkpointer: this.#checkpointer, name: 'rca' });
    // 'sync' writes each step's checkpoint before the next starts, so a kill
    // right after a step cannot lose it.
    const config = {
      configurable: { thread_id: options.analysisId },
      signal: options.signal,
      durability: 'sync' as const,
    };
    const snapshot = await graph.getState(config);
    const stored = snapshot.values as Partial<AnalystStateValue>;
    if (stored.evidence && stored.evidence.incidentId !== evidence.incidentId)
      throw new Error(
        `analysis ${options.analysisId} belongs to incident ${stored.evidence.incidentId}, not ${evidence.incidentId}`,
      );
    const resumed = snapshot.next.length > 0;
    let final: AnalystStateValue;
    if (resumed) final = await graph.invoke(null, config);
    else if (stored.conclusion) final = stored as AnalystStateValue;
    else final = await graph.invoke({ evidence }, config);
    if (!final.conclusion || !final.analyst)
      throw new Error(`analysis ${options.analysisId} ended without a conclusion`);
    return {
      analysisId: options.analysisId,
      conclusion: final.conclusion,
      analyst: final.analyst,
      ...(final.fallbackReason ? { fallbackReason: final.fallbackReason } : {}),
      refusals: final.refusals ?? [],
      resumed,
    };
  }

  /** Deletes an analysis's checkpoints (after its conclusion is published and audited). */
  async forget(analysisId: string): Promise<void> {
    await this.#checkpointer.deleteThread(analysisId);
  }
}
