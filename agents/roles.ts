/**
 * The roles the swarm runs, and how many replicas of each `sentinel up`
 * starts. A singleton runs at least two replicas (one leads, one stands by).
 * Roles that later parts add plug in here and the supervisor runs them.
 */
import type { Config } from '../config/index.ts';
import { loadPolicy } from '../governance/index.ts';
import type { AgentDefinition } from './runtime/agent-definition.ts';
import { analyst } from './analyst/analyst-agent.ts';
import { collector } from './collector/index.ts';
import { correlator } from './correlator/index.ts';
import { detector } from './detector/index.ts';
import { executor } from './executor/index.ts';
import { governor, governorDefinition } from './governor/index.ts';
import { planner } from './planner/planner-agent.ts';

export interface RoleEntry {
  /** The role as shipped (default settings). */
  readonly definition: AgentDefinition;
  readonly replicas: number;
  /** The role under a deployment's settings (a policy file, say), when they change it. */
  readonly configure?: (config: Config) => Promise<AgentDefinition>;
}

export const roles: Readonly<Record<string, RoleEntry>> = {
  collector: { definition: collector, replicas: 2 },
  detector: { definition: detector, replicas: 2 },
  correlator: { definition: correlator, replicas: 2 },
  analyst: { definition: analyst, replicas: 2 },
  planner: { definition: planner, replicas: 2 },
  governor: {
    definition: governor,
    replicas: 2,
    configure: async (config) =>
      config.policyFile === undefined ? governor : governorDefinition(await loadPolicy(config.policyFile)),
  },
  executor: { definition: executor, replicas: 2 },
};

/** The definition of `entry` under `config`. */
export async function definitionFor(entry: RoleEntry, config: Config): Promise<AgentDefinition> {
  return entry.configure ? entry.configure(config) : entry.definition;
}

export function roleNames(): string[] {
  return Object.keys(roles);
}
