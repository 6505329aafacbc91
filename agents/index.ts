/**
 * Agents: the runtime that hosts a role's XState machine, and the roles.
 */
export { AgentMode } from './runtime/agent-definition.ts';
export { createActorHandler } from './runtime/actor-handler.ts';
export { startAgent } from './runtime/agent-process.ts';
export {
  HEARTBEAT_MS,
  HEARTBEAT_TTL_MS,
  heartbeatSchema,
  listAgents,
  openRegistry,
} from './runtime/registry.ts';
export { listSnapshots, loadSnapshot, runtimeMigrations, saveSnapshot } from './runtime/snapshot-store.ts';
export { roleNames, roles } from './roles.ts';
export {
  correlationMachine,
  correlator,
  CRITICAL_SCORE,
  defaultCorrelationPolicy,
  incidentMachine,
  suspects,
} from './correlator/index.ts';
export { announceSource, collector, openDiscovery, withdrawSource } from './collector/index.ts';
export { detector } from './detector/index.ts';

export type {
  AgentContext,
  AgentDefinition,
  AgentService,
  AgentSubscription,
  MachineAgentDefinition,
  PublishIntent,
  ServiceAgentDefinition,
} from './runtime/agent-definition.ts';
export type { AgentOptions, RunningAgent } from './runtime/agent-process.ts';
export type { Heartbeat } from './runtime/registry.ts';
export type { StoredSnapshot } from './runtime/snapshot-store.ts';
export type { RoleEntry } from './roles.ts';
export type {
  CorrelationContext,
  CorrelationEvent,
  CorrelationPolicy,
  IncidentContext,
  IncidentEvent,
} from './correlator/index.ts';
