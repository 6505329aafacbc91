/**
 * The planner: the choice of a remediation for a root cause, from the
 * runbook catalogue (governance/runbooks/), and the agent that proposes it. This file lists everything other parts may use.
 */
export { chooseRemediation, DEFAULT_MIN_CONFIDENCE } from './choose-remediation.ts';
export { planner } from './planner-agent.ts';

export type { ChooseOptions, Remediation, RootCause } from './choose-remediation.ts';
