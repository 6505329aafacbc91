/**
 * The analyst: from an incident's evidence to its root cause. This file
 * lists everything other parts may use.
 */

// Deterministic analyst
export { analyseDeterministically, assessHypothesis } from './deterministic-analyst.ts';
export { EVIDENCE_FEATURES, readEvidence } from './evidence-features.ts';
export { FAULT_SIGNATURES, REQUIRED_STRENGTH } from './fault-signatures.ts';

// Deterministic analyst
export type { DeterministicAnalystOptions, HypothesisAssessment } from './deterministic-analyst.ts';
export type {
  EvidenceFeature,
  EvidenceReading,
  FeatureSource,
  FeatureValue,
  ReadingOptions,
  ServiceFeatures,
} from './evidence-features.ts';
export type { FaultSignature, SignatureTerm } from './fault-signatures.ts';
export type {
  AnomalyEvidence,
  ChangeEvidence,
  IncidentEvidence,
  LogEvidence,
  PastIncident,
  RestartEvidence,
  RootCauseConclusion,
} from './evidence.ts';

// --- LLM analyst (LangGraph graph, OpenAI-compatible model, Postgres checkpoints) ---
export { analyst } from './analyst-agent.ts';
export { analystGraph, AnalystState } from './graph.ts';
export { firstJsonObject, parseConclusion, parseHypotheses } from './llm-answer.ts';
export { LlmAnalyst, postgresCheckpointer } from './llm-analyst.ts';
export { checkHypothesis, CHANGE_WINDOW_MS, PROMPT_LIMITS, promptEvidence } from './llm-checks.ts';
export { callModel, chatModelChain } from './llm-model.ts';
export { countPromptTokens, countTokens } from './llm-usage.ts';
export { conclusionPrompt, dataBlock, hypothesisPrompt, MAX_HYPOTHESES, repairPrompt } from './prompt.ts';

export type {
  AnalystGraphDeps,
  AnalystStateValue,
  BudgetHook,
  BudgetRequest,
  DeterministicAnalyst,
  FallbackReason,
} from './graph.ts';
export type { Hypothesis, ModelConclusion, Parsed } from './llm-answer.ts';
export type { AnalyseOptions, LlmAnalysis, LlmAnalystOptions } from './llm-analyst.ts';
export type { HypothesisCheck, MetricsFinding, MetricsQuery } from './llm-checks.ts';
export type {
  CallOptions,
  CallResult,
  ChatChain,
  LlmEndpoint,
  LlmModelConfig,
  PromptMessage,
} from './llm-model.ts';
export type { LlmUsage } from './llm-usage.ts';
export type { LlmStep } from './prompt.ts';
// --- end LLM analyst ---
