/**
 * The analyst: for each incident that opens, gather its evidence from the
 * streams and conclude its root cause. Competing replicas share the
 * incidents. The work (gathering, reasoning, a model call) runs outside any
 * transaction; `rca.started` and the reasoning's `rca.token`s are published
 * as they happen (their ids are derived from the analysis, so doing the work
 * again after a crash publishes nothing twice); `rca.completed` is committed
 * with the incident's claim.
 */
import { createEvent } from '../../choreography/index.ts';
import type { EventData, SentinelEvent } from '../../choreography/index.ts';
import type { WorkAgentContext, WorkAgentDefinition } from '../runtime/agent-definition.ts';
import { commitEmitter } from '../runtime/work-output.ts';
import { analyseDeterministically } from './deterministic-analyst.ts';
import type { RootCauseConclusion } from './evidence.ts';
import { gatherEvidence } from './gather.ts';

/** How long the analyst lets an incident's evidence arrive before it reads it. */
const SETTLE_MS = 3000;
/** Reasoning is streamed in pieces of about this many characters. */
const TOKEN_CHARS = 160;

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
  const out: string[] = [];
  for (const line of lines)
    for (let i = 0; i < line.length; i += TOKEN_CHARS) out.push(`${line.slice(i, i + TOKEN_CHARS)}\n`);
  return out;
}

async function analyse(
  agent: WorkAgentContext,
  event: SentinelEvent,
  signal: AbortSignal,
): Promise<Analysis> {
  const d = event.data as EventData<'sentinel.incident.opened.v1'>;
  const analysisId = `rca-${d.incidentId}`;
  const analyst = 'deterministic' as const;
  const publish = (e: SentinelEvent) => agent.publisher.publish(e);
  await publish(
    createEvent(
      'sentinel.rca.started.v1',
      { incidentId: d.incidentId, environment: d.environment, analysisId, analyst },
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
  const evidence = await gatherEvidence(agent.bus, {
    incidentId: d.incidentId,
    environment: d.environment,
    openedAtMs: Date.parse(event.time),
    services: d.services,
    suspects: d.suspects,
  });
  const conclusion = analyseDeterministically(evidence);
  let seq = 0;
  for (const text of reasoningOf(conclusion)) {
    await publish(
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
    seq++;
  }
  return { analysisId, incidentId: d.incidentId, environment: d.environment, analyst, conclusion };
}

export const analyst: WorkAgentDefinition = {
  kind: 'work',
  role: 'analyst',
  mode: 'competing',
  description: 'finds the root cause of each incident from its evidence',
  subscriptions: [{ name: 'incidents', stream: 'events', filter: 'incident.opened', ackWaitMs: 15_000 }],
  async create(agent) {
    return {
      handler: {
        kind: 'work',
        perform: (event, ctx) => analyse(agent, event, ctx.signal),
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
      async stop() {},
    };
  },
};
