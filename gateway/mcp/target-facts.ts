/**
 * The facts a proposal's preconditions are checked against when no fleet
 * controller is wired in: what the change record says, exactly as the
 * planner falls back to it (governance's `changeRecordFacts`).
 */
import { changeRecordFacts } from '../../governance/index.ts';
import type { Bus } from '../../choreography/index.ts';
import type { TargetFactsLookup } from './deps.ts';

/** A {@link TargetFactsLookup} that reads the change record of `bus`. */
export function changeRecordLookup(bus: Bus): TargetFactsLookup {
  return async (environment, service, nowMs) => ({
    facts: await changeRecordFacts(bus, environment, service, nowMs),
    from: 'the change record only',
  });
}
