/**
 * The fleet: a small real production system that Sentinel watches and that
 * can be made to fail on purpose. Scenario files (scenarios/FORMAT.md) are
 * parsed here; `startFleet` runs a scenario's services as real processes,
 * serves discovery, injects every kind of fault and carries out the
 * remediation actions; `LoadGenerator` drives the entry service. This file
 * lists everything other parts may use.
 */
export { actionRequestSchema } from './action-api.ts';
export { REMEDIATION_ACTIONS } from './actions.ts';
export { startFleet } from './controller.ts';
export { FleetError, FleetErrorCode, ReplicaStartError, ScenarioError } from './errors.ts';
export { FAULT_KINDS, REPLICA_FAULT_KINDS, faultParamSchemas } from './faults.ts';
export { LoadGenerator } from './load-generator.ts';
export {
  DEFAULT_VERSION,
  MAX_REPLICAS,
  parseScenario,
  readScenario,
  scenarioSchema,
  startOrder,
} from './scenario.ts';

export type { ActionRequest, ActionResponse, ServiceStatus } from './action-api.ts';
export type { RemediationAction } from './actions.ts';
export type { ChangeEvent, ChangeListener } from './changes.ts';
export type { FaultInjection, FleetHandle, FleetOptions, PerformedAction } from './controller.ts';
export type { FleetErrorOptions } from './errors.ts';
export type { FaultKind, FaultParams, FaultSpec, ReplicaFaultKind } from './faults.ts';
export type { LoadOptions, LoadStats } from './load-generator.ts';
export type { Behaviour, FleetLog } from './replica-set.ts';
export type { Expectation, Fault, FleetSpec, Scenario, ServiceSpec } from './scenario.ts';
export type { FleetTarget } from './targets.ts';
