/**
 * The executor's library: the drivers that carry out an action (fleet
 * controller over HTTP, Kubernetes Deployments) and undo it, and the
 * verification probes that decide whether it worked. This file lists
 * everything other parts may use.
 */
export { undoKey } from './drivers/driver.ts';
export { FleetDriver } from './drivers/fleet-driver.ts';
export { KubernetesDriver, SENTINEL_ANNOTATIONS } from './drivers/kubernetes-driver.ts';
export { DriverError, DriverErrorCode } from './errors.ts';
export { executor, executorDefinition } from './executor-agent.ts';
export { fleetControlOf } from './fleet-control.ts';
export { defaultMetricNames, scrapeTargets, verify } from './verify.ts';

export type {
  ActionResult,
  Driver,
  DriverParameters,
  DriverTarget,
  ExecuteContext,
  TargetState,
} from './drivers/driver.ts';
export type { FleetDriverOptions, FleetServiceStatus } from './drivers/fleet-driver.ts';
export type { KubernetesDriverOptions } from './drivers/kubernetes-driver.ts';
export type { Execution, ExecutorOptions } from './executor-agent.ts';
export type { FleetControl } from './fleet-control.ts';
export type {
  CheckResult,
  TargetScrape,
  VerifyClock,
  VerifyMetricNames,
  VerifyOptions,
  VerifyOutcome,
} from './verify.ts';
