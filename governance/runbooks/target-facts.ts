/**
 * What a runbook's preconditions are judged against: the facts of the target
 * now (replicas, an earlier version, a recent deploy), the check itself, and
 * the change record's part of the facts. The planner and the gateway's
 * `propose_action` both build plans this way, so they share it.
 */
import { readEvents } from '../../choreography/index.ts';
import type { Bus, EventData } from '../../choreography/index.ts';
import type { Preconditions } from './runbook-catalogue.ts';

/** What is known about the target now, for the preconditions. */
export interface TargetFacts {
  /** Replicas the service runs. */
  readonly replicas: number;
  /** The service has an earlier version to go back to. */
  readonly hasPreviousVersion: boolean;
  /** The service was deployed recently. */
  readonly recentDeploy: boolean;
  /** The service that takes the outside load, when known. */
  readonly entry?: string;
}

/** How long a proposed plan stays good: approvals and execution must come before. */
export const PLAN_TTL_MS = 15 * 60_000;
/** A deploy this recent counts as recent (a crash loop after it is rolled back). */
export const RECENT_DEPLOY_MS = 30 * 60_000;
/** Deploy records read, at most. */
const MAX_DEPLOYS = 500;

/** Each precondition that does not hold, worded for the reasons. */
export function unmetPreconditions(pre: Preconditions, service: string, facts: TargetFacts): string[] {
  const unmet: string[] = [];
  if (pre.hasPreviousVersion && !facts.hasPreviousVersion)
    unmet.push('hasPreviousVersion (no earlier version)');
  if (pre.recentDeploy && !facts.recentDeploy) unmet.push('recentDeploy (no recent deploy)');
  if (pre.replicasAtLeast !== undefined && !(facts.replicas >= pre.replicasAtLeast)) {
    unmet.push(`replicasAtLeast ${pre.replicasAtLeast} (runs ${facts.replicas})`);
  }
  if (pre.replicasAtMost !== undefined && !(facts.replicas <= pre.replicasAtMost)) {
    unmet.push(`replicasAtMost ${pre.replicasAtMost} (runs ${facts.replicas})`);
  }
  if (pre.notEntry && facts.entry === service) unmet.push('notEntry (it takes the outside load)');
  return unmet;
}

/**
 * The facts the change record gives about `service` in `environment` at
 * `nowMs`: whether it was deployed recently, and whether a deploy left an
 * earlier version to go back to.
 */
export async function recordedFacts(
  bus: Bus,
  environment: string,
  service: string,
  nowMs: number,
): Promise<Pick<TargetFacts, 'hasPreviousVersion' | 'recentDeploy'>> {
  const deploys = await readEvents(bus, {
    stream: 'events',
    filter: 'change.recorded',
    sinceMs: nowMs - RECENT_DEPLOY_MS,
    max: MAX_DEPLOYS,
    where: (e) => {
      const d = e.data as EventData<'sentinel.change.recorded.v1'>;
      return d.environment === environment && d.service === service && d.kind === 'deploy';
    },
  });
  return {
    hasPreviousVersion: deploys.some((d) => (d.data as EventData<'sentinel.change.recorded.v1'>).from),
    recentDeploy: deploys.length > 0,
  };
}

/**
 * The facts when no controller answers: the change record's, and nothing
 * assumed in the plan's favour (one replica, so an action that needs more,
 * scale in, is refused rather than proposed on a guess).
 */
export async function changeRecordFacts(
  bus: Bus,
  environment: string,
  service: string,
  nowMs: number,
): Promise<TargetFacts> {
  return { replicas: 1, ...(await recordedFacts(bus, environment, service, nowMs)) };
}
