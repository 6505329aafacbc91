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
import { Redis } from 'ioredis';
import { createEvent, pause } from '../../choreography/index.ts';
import type { EventData, SentinelEvent } from '../../choreography/index.ts';
import type { WorkAgentContext, WorkAgentDefinition } from '../runtime/agent-definition.ts';
import { commitEmitter } from '../runtime/work-output.ts';
import { analyseDeterministically } from './deterministic-analyst.ts';
import type { IncidentEvidence, RootCauseConclusion } from './evidence.ts';
import { gatherEvidence } from './gather.ts';
import type { IncidentRef } from './gather.ts';
import { LOG_LINES_METRIC, NEW_SHAPES_METRIC } from '../detector/index.ts';
import type { LlmStep } from './prompt.ts';
import { Serial } from './serial.ts';
import type { CachedConclusion, CachedLlmAnalyst } from './cached-llm-analyst.ts';

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

export interface Analysis {
  readonly analysisId: string;
  readonly incidentId: string;
  readonly environment: string;
  readonly analyst: 'llm' | 'deterministic';
  readonly conclusion: RootCauseConclusion;
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
    // The model stack (LangChain, LangGraph, the tokenizer) loads only when a model is configured.
    const { CachedLlmAnalyst } = await import('./cached-llm-analyst.ts');
    const analyst = await CachedLlmAnalyst.create({
      redis,
      pool: agent.pool,
      namespace: config.namespace,
      model: config.llm,
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

/** A root cause at least this certain is worth acting on (the planner escalates below it too). */
const CONFIDENT = 0.5;

/**
 * Evidence backed only by log lines (text anyone who can write to a log
 * controls), or that no fault fits well, is worth waiting for: the symptoms
 * that follow a cause take seconds to show. Up to {@link PATIENCE_MS} more.
 */
function weak(evidence: IncidentEvidence, conclusion: RootCauseConclusion): boolean {
  const fromLogs = (a: IncidentEvidence['anomalies'][number]) =>
    a.signal === 'logs' || a.metric === LOG_LINES_METRIC || a.metric === NEW_SHAPES_METRIC;
  const symptoms = evidence.anomalies.filter((a) => a.signal !== 'runtime' && !fromLogs(a));
  return symptoms.length === 0 || conclusion.confidence < CONFIDENT;
}

/** The evidence once it is strong enough (or the patience is spent), with the deterministic analyst's reading of it. */
async function gatherPatiently(
  agent: WorkAgentContext,
  incident: IncidentRef,
  signal: AbortSignal,
): Promise<{ evidence: IncidentEvidence; deterministic: RootCauseConclusion }> {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const evidence = await gatherEvidence(agent.bus, incident);
    const deterministic = analyseDeterministically(evidence);
    if (Date.now() >= deadline || !weak(evidence, deterministic)) return { evidence, deterministic };
    await pause(PATIENCE_STEP_MS, signal);
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
  await pause(SETTLE_MS, signal);
  const { evidence, deterministic } = await gatherPatiently(
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
    conclusion = deterministic;
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
