/**
 * The roles the swarm runs, and how many replicas of each `sentinel up`
 * starts. A singleton runs at least two replicas (one leads, one stands by).
 * Roles that later parts add plug in here and the supervisor runs them.
 */
import type { AgentDefinition } from './runtime/agent-definition.ts';
import { collector } from './collector/index.ts';
import { correlator } from './correlator/index.ts';
import { detector } from './detector/index.ts';

export interface RoleEntry {
  readonly definition: AgentDefinition;
  readonly replicas: number;
}

export const roles: Readonly<Record<string, RoleEntry>> = {
  collector: { definition: collector, replicas: 2 },
  detector: { definition: detector, replicas: 2 },
  correlator: { definition: correlator, replicas: 2 },
};

export function roleNames(): string[] {
  return Object.keys(roles);
}
