/**
 * The collector: discovery of telemetry sources and their targets, bounded
 * scrapes of Prometheus endpoints, log following, the call graph from
 * dependency metrics, and the agent that publishes all of it.
 */
export { Collector, collector } from './collector.ts';
export {
  announceSource,
  DISCOVERY_TTL_MS,
  discoveredTargetSchema,
  discoverySourceSchema,
  fetchList,
  listSources,
  openDiscovery,
  withdrawSource,
} from './discovery.ts';
export { defaultExpositionLimits, ExpositionError, parseExposition } from './exposition.ts';
export { LogFollower, MAX_LINE } from './log-follower.ts';
export { scrape } from './scrape.ts';
export { defaultTopologyRule, dependenciesIn } from './topology.ts';

export type { CollectorDeps, CollectorOptions } from './collector.ts';
export type { DiscoveredTarget, DiscoverySource } from './discovery.ts';
export type { Dropped, ExpositionLimits, ParsedExposition } from './exposition.ts';
export type { LogLine } from './log-follower.ts';
export type { ScrapeOptions, ScrapeResult } from './scrape.ts';
export type { TopologyRule } from './topology.ts';
