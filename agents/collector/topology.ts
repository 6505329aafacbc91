/**
 * The call graph, read from the services' own telemetry: a service that
 * reports calls to a dependency (a counter with the dependency's name in a
 * label, the way service meshes and RPC libraries export them) depends on it.
 * Which metric and label to read is configuration, so the same collector
 * reads the local fleet's `sentinel_fleet_dependency_calls_total{dependency}`
 * or a mesh's `istio_requests_total{destination_service_name}`.
 */
import { ServiceName } from '../../choreography/index.ts';
import type { MetricSampleData } from '../../choreography/index.ts';

export interface TopologyRule {
  /** Counter whose series name a callee. */
  readonly metric: string;
  /** Label holding the callee's service name. */
  readonly label: string;
}

/** The rule for Sentinel's own fleet. */
export const defaultTopologyRule: TopologyRule = {
  metric: 'sentinel_fleet_dependency_calls_total',
  label: 'dependency',
};

/** The services `samples` show calls to (valid service names only), sorted. */
export function dependenciesIn(samples: readonly MetricSampleData[], rule: TopologyRule): string[] {
  const deps = new Set<string>();
  for (const s of samples) {
    if (s.name !== rule.metric) continue;
    const callee = s.labels[rule.label];
    if (callee !== undefined && ServiceName.safeParse(callee).success) deps.add(callee);
  }
  return [...deps].sort();
}
