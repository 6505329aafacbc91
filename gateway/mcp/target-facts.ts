/**
 * The facts a proposal's preconditions are checked against when no fleet
 * controller is wired in: what the change record says, exactly as the
 * planner falls back to it. Nothing is assumed in the caller's favour: a
 * service is taken to run one replica, so an action that needs more (scale
 * in) is refused rather than proposed on a guess.
 */
import { readEvents } from '../../choreography/index.ts';
import type { Bus, EventData } from '../../choreography/index.ts';
import type { TargetFactsLookup } from './deps.ts';

/** A deploy this recent counts as recent (the planner's window). */
export const RECENT_DEPLOY_MS = 30 * 60_000;
/** Deploy records read, at most. */
const MAX_DEPLOYS = 500;

/** A {@link TargetFactsLookup} that reads the change record of `bus`. */
export function changeRecordFacts(bus: Bus): TargetFactsLookup {
  return async (environment, service, nowMs) => {
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
      facts: {
        replicas: 1,
        hasPreviousVersion: deploys.some((d) => (d.data as { from?: string }).from),
        recentDeploy: deploys.length > 0,
      },
      from: 'the change record only',
    };
  };
}
