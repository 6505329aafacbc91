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
export { correlator, incidentMachine, CRITICAL_SCORE } from './correlator/index.ts';

export type { AgentDefinition, AgentSubscription, PublishIntent } from './runtime/agent-definition.ts';
export type { AgentOptions, RunningAgent } from './runtime/agent-process.ts';
export type { Heartbeat } from './runtime/registry.ts';
export type { StoredSnapshot } from './runtime/snapshot-store.ts';
export type { RoleEntry } from './roles.ts';
export type { IncidentContext, IncidentEvent } from './correlator/index.ts';
