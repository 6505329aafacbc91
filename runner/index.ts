/**
 * The scenario runner: runs a scenario file's fleet, load and faults against
 * the swarm and reports what the swarm did, judged against the scenario's
 * expectations. `sentinel scenario run` is its command-line face.
 */
export { RunObserver } from './observer.ts';
export { buildReport, reportRows } from './report.ts';
export { runScenario } from './run.ts';
export { MACHINE_WIDE_FAULTS, runConcurrently, startConcurrently } from './concurrent.ts';

export type { Observed } from './observer.ts';
export type {
  ActionTaken,
  FleetAction,
  IncidentSummary,
  Judged,
  RootCauseFound,
  RunTimeline,
  ScenarioReport,
} from './report.ts';
export type { RunOptions } from './run.ts';
export type { ConcurrentOptions } from './concurrent.ts';
