/**
 * The roles the swarm runs, and how many replicas of each `sentinel up`
 * starts. A singleton runs at least two replicas (one leads, one stands by).
 * Roles that later parts add plug in here and the supervisor runs them.
 *
 * A role's code is loaded only by the process that runs it: an agent process
 * imports its own role (a detector never loads the model client, the
 * Kubernetes client or the policy engine), and the supervisor, the CLI and
 * the runner that list the roles load none of them. The analyst and the
 * executor are loaded from their agent modules rather than their part's
 * index, which also offers the LLM graph and the Kubernetes driver: the
 * analyst loads the model stack only when a model is configured, and no
 * agent drives Kubernetes yet.
 */
import type { Config } from '../config/index.ts';
import type { AgentDefinition } from './runtime/agent-definition.ts';

export interface RoleEntry {
  readonly replicas: number;
  /** The role's definition under `config` (a policy file, say), loaded on demand. */
  load(config: Config): Promise<AgentDefinition>;
}

export const roles: Readonly<Record<string, RoleEntry>> = {
  collector: { replicas: 2, load: async () => (await import('./collector/index.ts')).collector },
  detector: { replicas: 2, load: async () => (await import('./detector/index.ts')).detector },
  correlator: { replicas: 2, load: async () => (await import('./correlator/index.ts')).correlator },
  analyst: { replicas: 2, load: async () => (await import('./analyst/analyst-agent.ts')).analyst },
  planner: { replicas: 2, load: async () => (await import('./planner/index.ts')).planner },
  governor: {
    replicas: 2,
    load: async (config) => {
      const { governorDefinition } = await import('./governor/index.ts');
      const { defaultPolicy, loadPolicy } = await import('../governance/index.ts');
      return governorDefinition(
        config.policyFile === undefined ? defaultPolicy() : await loadPolicy(config.policyFile),
      );
    },
  },
  executor: { replicas: 2, load: async () => (await import('./executor/executor-agent.ts')).executor },
};

export function roleNames(): string[] {
  return Object.keys(roles);
}
