/**
 * The LLM analyst as a LangGraph graph, one thread per analysis:
 *
 *   gather → hypothesise ─┬─► test → conclude
 *                         └─────────► conclude   (no model: budget refused or every endpoint failed)
 *
 * gather bounds the evidence for the prompts; hypothesise asks the model for
 * up to three hypotheses; test checks each against the evidence
 * deterministically (and through the optional `queryMetrics` hook); conclude
 * asks the model for the final answer, refuses one that names anything outside
 * the known services and fault kinds, asks once more, and otherwise concludes
 * with the deterministic analyst. Each node's result is checkpointed, so a
 * resumed analysis does not ask the model again for a step already done.
 */
import { Annotation, END, START, StateGraph } from '@langchain/langgraph';
import type { LangGraphRunnableConfig } from '@langchain/langgraph';
import type { IncidentEvidence, RootCauseConclusion } from './evidence.ts';
import { parseConclusion, parseHypotheses } from './llm-answer.ts';
import type { Hypothesis, ModelConclusion } from './llm-answer.ts';
import { checkHypothesis, promptEvidence } from './llm-checks.ts';
import type { HypothesisCheck, MetricsFinding, MetricsQuery } from './llm-checks.ts';
import { callModel } from './llm-model.ts';
import type { CallResult, ChatChain, PromptMessage } from './llm-model.ts';
import type { LlmUsage } from './llm-usage.ts';
import { conclusionPrompt, hypothesisPrompt, MAX_HYPOTHESES, repairPrompt } from './prompt.ts';
import type { LlmStep } from './prompt.ts';
import { countPromptTokens } from './llm-usage.ts';

/** The deterministic analyst, injected: the fallback whenever the model cannot or may not answer. */
export type DeterministicAnalyst = (evidence: IncidentEvidence) => RootCauseConclusion;

/** What the budget hook is asked before each model call. */
export interface BudgetRequest {
  readonly analysisId: string;
  readonly incidentId: string;
  readonly step: LlmStep;
  /** Prompt tokens of the call, counted with cl100k_base. */
  readonly estimatedPromptTokens: number;
}

/** Says whether a model call may be made; `false` makes the analysis deterministic from there on. */
export type BudgetHook = (request: BudgetRequest) => boolean | Promise<boolean>;

/** Why an analysis concluded without the model. */
export type FallbackReason = 'budget' | 'model_failed' | 'invalid_answer' | 'no_known_services';

/** Everything the nodes need besides the state. Not checkpointed: a resumed analysis gets them anew. */
export interface AnalystGraphDeps {
  readonly analysisId: string;
  readonly chain: ChatChain;
  /** The primary model's name, reported when an answer names none. */
  readonly model: string;
  readonly deterministic: DeterministicAnalyst;
  readonly budget?: BudgetHook;
  readonly queryMetrics?: (query: MetricsQuery, signal?: AbortSignal) => Promise<MetricsFinding>;
  readonly onToken?: (text: string, step: LlmStep) => void;
  readonly onUsage?: (usage: LlmUsage) => void;
}

export const AnalystState = Annotation.Root({
  evidence: Annotation<IncidentEvidence>(),
  /** The bounded evidence quoted in prompts. */
  prompt: Annotation<Record<string, unknown> | undefined>(),
  hypotheses: Annotation<Hypothesis[] | undefined>(),
  hypothesesFrom: Annotation<'llm' | 'deterministic' | undefined>(),
  checks: Annotation<HypothesisCheck[] | undefined>(),
  conclusion: Annotation<RootCauseConclusion | undefined>(),
  analyst: Annotation<'llm' | 'deterministic' | undefined>(),
  fallbackReason: Annotation<FallbackReason | undefined>(),
  /** Why an answer was refused, for the report. */
  refusals: Annotation<string[] | undefined>(),
});

export type AnalystStateValue = typeof AnalystState.State;
type Update = typeof AnalystState.Update;

/** The model is not to be asked (budget) or did not answer (every endpoint failed). */
class ModelUnavailable extends Error {
  readonly reason: 'budget' | 'model_failed';
  constructor(reason: 'budget' | 'model_failed', cause?: unknown) {
    super(reason === 'budget' ? 'the token budget refused the call' : 'every model endpoint failed', {
      cause,
    });
    this.reason = reason;
  }
}

/** Builds the (uncompiled) graph; compile it with a checkpointer. */
export function analystGraph(deps: AnalystGraphDeps) {
  async function ask(
    step: LlmStep,
    state: AnalystStateValue,
    messages: PromptMessage[],
    config: LangGraphRunnableConfig,
  ): Promise<CallResult> {
    if (deps.budget) {
      const allowed = await deps.budget({
        analysisId: deps.analysisId,
        incidentId: state.evidence.incidentId,
        step,
        estimatedPromptTokens: countPromptTokens(messages),
      });
      if (!allowed) throw new ModelUnavailable('budget');
    }
    try {
      const result = await callModel(deps.chain, messages, {
        model: deps.model,
        signal: config.signal,
        onToken: deps.onToken && ((t) => deps.onToken?.(t, step)),
      });
      deps.onUsage?.(result.usage);
      return result;
    } catch (err) {
      // A killed analysis stops here and resumes from the last checkpoint;
      // only a failing model turns into the deterministic fallback.
      if (config.signal?.aborted) throw err;
      throw new ModelUnavailable('model_failed', err);
    }
  }

  function deterministicHypotheses(e: IncidentEvidence): Hypothesis[] {
    return deps
      .deterministic(e)
      .hypotheses.slice(0, MAX_HYPOTHESES)
      .map((h) => ({ service: h.service, kind: h.kind, why: 'proposed by the deterministic analyst' }));
  }

  function deterministicConclusion(state: AnalystStateValue, reason: FallbackReason): Update {
    return {
      conclusion: deps.deterministic(state.evidence),
      analyst: 'deterministic',
      fallbackReason: reason,
    };
  }

  async function gather(state: AnalystStateValue): Promise<Update> {
    if (state.evidence.knownServices.length === 0) return { fallbackReason: 'no_known_services' };
    return { prompt: promptEvidence(state.evidence) };
  }

  async function hypothesise(state: AnalystStateValue, config: LangGraphRunnableConfig): Promise<Update> {
    if (state.fallbackReason) return {};
    const { knownServices } = state.evidence;
    let answer: CallResult;
    try {
      answer = await ask('hypothesise', state, hypothesisPrompt(knownServices, state.prompt), config);
    } catch (err) {
      if (err instanceof ModelUnavailable) return { fallbackReason: err.reason };
      throw err;
    }
    const parsed = parseHypotheses(answer.text, knownServices);
    if (parsed.ok) return { hypotheses: parsed.value, hypothesesFrom: 'llm' };
    // No usable hypothesis: check the deterministic analyst's instead of paying for a repair here.
    return {
      hypotheses: deterministicHypotheses(state.evidence),
      hypothesesFrom: 'deterministic',
      refusals: [`hypothesise: ${parsed.problem}`],
    };
  }

  async function test(state: AnalystStateValue, config: LangGraphRunnableConfig): Promise<Update> {
    const e = state.evidence;
    const checks: HypothesisCheck[] = [];
    for (const h of state.hypotheses ?? []) {
      let finding: MetricsFinding | undefined;
      if (deps.queryMetrics) {
        try {
          finding = await deps.queryMetrics(
            {
              incidentId: e.incidentId,
              service: h.service,
              kind: h.kind,
              fromMs: e.openedAtMs - 3_600_000,
              toMs: Date.now(),
            },
            config.signal,
          );
        } catch (err) {
          if (config.signal?.aborted) throw err;
          finding = { statements: ['metrics query failed'], support: 0 };
        }
      }
      checks.push(checkHypothesis(e, h, finding));
    }
    return { checks };
  }

  async function conclude(state: AnalystStateValue, config: LangGraphRunnableConfig): Promise<Update> {
    if (state.fallbackReason) return deterministicConclusion(state, state.fallbackReason);
    const { knownServices } = state.evidence;
    const checks = state.checks ?? [];
    const messages = conclusionPrompt(knownServices, state.prompt, { hypotheses: checks });
    const refusals = [...(state.refusals ?? [])];
    try {
      const first = await ask('conclude', state, messages, config);
      let parsed = parseConclusion(first.text, knownServices);
      if (!parsed.ok) {
        refusals.push(`conclude: ${parsed.problem}`);
        const second = await ask('repair', state, repairPrompt(messages, first.text, parsed.problem), config);
        parsed = parseConclusion(second.text, knownServices);
        if (!parsed.ok) refusals.push(`repair: ${parsed.problem}`);
      }
      if (!parsed.ok) return { ...deterministicConclusion(state, 'invalid_answer'), refusals };
      return { conclusion: withHypotheses(state.evidence, parsed.value, checks), analyst: 'llm', refusals };
    } catch (err) {
      if (err instanceof ModelUnavailable) return { ...deterministicConclusion(state, err.reason), refusals };
      throw err;
    }
  }

  return new StateGraph(AnalystState)
    .addNode('gather', gather)
    .addNode('hypothesise', hypothesise)
    .addNode('test', test)
    .addNode('conclude', conclude)
    .addEdge(START, 'gather')
    .addEdge('gather', 'hypothesise')
    .addConditionalEdges('hypothesise', (s: AnalystStateValue) => (s.fallbackReason ? 'conclude' : 'test'), [
      'test',
      'conclude',
    ])
    .addEdge('test', 'conclude')
    .addEdge('conclude', END);
}

/** The model's conclusion with the checked hypotheses, best first, the concluded one among them. */
function withHypotheses(
  e: IncidentEvidence,
  c: ModelConclusion,
  checks: readonly HypothesisCheck[],
): RootCauseConclusion {
  const all = [...checks];
  if (!all.some((h) => h.service === c.service && h.kind === c.kind))
    all.push(checkHypothesis(e, { service: c.service, kind: c.kind, why: 'concluded by the model' }));
  return {
    service: c.service,
    kind: c.kind,
    confidence: c.confidence,
    evidence: c.evidence,
    hypotheses: all
      .sort((a, b) => b.score - a.score)
      .map((h) => ({ service: h.service, kind: h.kind, score: h.score })),
  };
}
