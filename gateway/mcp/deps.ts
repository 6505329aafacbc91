/**
 * What the MCP server needs from the rest of Sentinel. The gateway fills it
 * with its own connections; a test fills it with a test namespace's.
 */
import type pg from 'pg';
import type { AgentIdentity, Bus, Publisher } from '../../choreography/index.ts';
import type { Logger } from '../../config/index.ts';
import type { RunbookCatalogue, TargetFacts } from '../../governance/index.ts';
import type { SecurityRecorder } from '../deps.ts';

/** What is known about a proposal's target now, and where that came from (for the plan's reasons). */
export interface TargetFactsLookup {
  (environment: string, service: string, nowMs: number): Promise<{ facts: TargetFacts; from: string }>;
}

/** Everything {@link mcpRoutes} needs. */
export interface McpDeps {
  readonly bus: Bus;
  /**
   * PostgreSQL and the namespace's schema: where the hash-chained audit log
   * (a later issue) will be read from. Until it exists every tool reads the
   * streams, and these are unused.
   */
  readonly pool: pg.Pool;
  readonly namespace: string;
  /** Publishes proposed plans as the gateway. */
  readonly publisher: Publisher;
  /** The runbook catalogue: it alone decides a proposed plan's risk tier, parameters and preconditions. */
  readonly catalogue: RunbookCatalogue;
  readonly log: Logger;
  /** The gateway's identity on the events it publishes. @default gateway/<host>-<pid> */
  readonly identity?: AgentIdentity;
  /**
   * The facts a proposal's preconditions are checked against (replicas, an
   * earlier version, a recent deploy). The gateway wires the fleet
   * controller here. @default the change record only, as the planner does
   * when no controller answers (one replica assumed)
   */
  readonly targetFacts?: TargetFactsLookup;
  /** Where a refused tool call (a missing scope) is recorded. @default not recorded */
  readonly securityLog?: Pick<SecurityRecorder, 'record'>;
  /** @default Date.now */
  readonly now?: () => number;
}
