/**
 * What each fault kind of the scenario format looks like in an incident's
 * evidence, written in the features of `evidence-features.ts`. A signature
 * says which features of the culprit service speak for the kind (`support`),
 * which speak for another kind instead (`against`), and which features must
 * be there at all (`requires`) for the kind to be considered.
 *
 * Most faults start in one service and travel up the call graph: its callers
 * get slow or fail because it does. So a symptom that travels (latency,
 * failed requests, a full pool) counts for a service only as far as its own
 * dependencies look healthy (`unless: ['downstream']`): the deepest service
 * with symptoms of its own is the usual culprit. A symptom of the process
 * itself (CPU, memory, disk) does not travel and counts wherever it is seen.
 * A traffic surge is the other way round: it enters at the top, and every
 * service below it sees more traffic and its consequences.
 *
 * What the fleet's faults produce (fleet/replica-faults.ts,
 * fleet/service-server.ts, fleet/replica-metrics.ts), with the generic
 * convention in brackets:
 *
 * | kind | culprit | its callers | its dependencies |
 * | --- | --- | --- | --- |
 * | cpu_spin | `process_cpu_seconds_total` rate, event-loop lag, request latency (its own timing of dependency calls too: the loop is blocked) | latency; dependency-call latency towards it | healthy |
 * | memory_leak | `process_resident_memory_bytes` (heap/external gauges), little else | nothing | nothing |
 * | latency | `*_request_duration_seconds` quantiles and mean; no CPU | latency; dependency-call latency towards it; more connections in use | healthy |
 * | error_burst | 500s (`*_requests_total{code="500"}`), error log lines | 502s; calls to it `outcome="error"` | less traffic |
 * | bad_deploy | a deploy change just before; its replicas restart once (roll-out); 500s and/or latency | as error_burst / latency | less traffic |
 * | crash_loop | restarts again and again with no change; `up` falls | calls to it `unreachable`/`no_upstream`, 502/503 | less traffic |
 * | pool_exhaustion | `*_pool_queue`, `*_pool_timeouts_total`, calls ending `pool_timeout`, 503s, latency (waiting); pool size falls | 502s, latency | less traffic, otherwise healthy |
 * | disk_fill | `*_data_dir_bytes` (any disk/volume bytes) grows; then `*_disk_write_errors_total`, 507s, error lines | 502s | less traffic |
 * | traffic_surge | entry: request rate up | — | request rate up, and CPU, latency, connections with it |
 * | log_injection | new log shapes (`sentinel_log_novelty_total`), unstructured lines; nothing else | nothing | nothing |
 */
import type { FaultKind } from '../../choreography/index.ts';
import type { EvidenceFeature } from './evidence-features.ts';

/** One feature's part in a signature. */
export interface SignatureTerm {
  readonly feature: EvidenceFeature;
  /** How much the feature at full strength adds (support) or takes away (against). */
  readonly weight: number;
  /**
   * Features of the same service that explain this one away: the term counts
   * times `1 − max(their strengths)` (load explains CPU; a sick dependency
   * explains its callers' latency).
   */
  readonly unless?: readonly EvidenceFeature[];
  /** Why the feature speaks for (or against) the kind; ends the evidence sentence. */
  readonly why: string;
}

/** What a fault kind looks like in the evidence of its culprit service. */
export interface FaultSignature {
  readonly kind: FaultKind;
  /** One line for people: what the fault is. */
  readonly summary: string;
  /** At least one of these must hold (strength ≥ {@link REQUIRED_STRENGTH}) for the kind to be considered. */
  readonly requires: readonly EvidenceFeature[];
  readonly support: readonly SignatureTerm[];
  readonly against: readonly SignatureTerm[];
}

/** The least strength of a required feature for a signature to apply. */
export const REQUIRED_STRENGTH = 0.05;

/** Symptoms that travel to callers count only as far as the service's dependencies look healthy. */
const TRAVELS = ['downstream'] as const satisfies readonly EvidenceFeature[];

export const FAULT_SIGNATURES: Readonly<Record<FaultKind, FaultSignature>> = {
  cpu_spin: {
    kind: 'cpu_spin',
    summary: 'the process burns CPU, so the requests it serves wait',
    requires: ['cpu', 'eventLoop'],
    support: [
      {
        feature: 'cpu',
        weight: 3,
        unless: ['trafficUp'],
        why: 'CPU time rose without more traffic to explain it',
      },
      { feature: 'eventLoop', weight: 1, unless: ['trafficUp'], why: 'its event loop lags: CPU-bound' },
      { feature: 'latency', weight: 1.5, unless: TRAVELS, why: 'its requests got slower' },
      { feature: 'calledSlow', weight: 1, unless: TRAVELS, why: 'its callers see it slow' },
    ],
    against: [
      { feature: 'restarts', weight: 2, why: 'restarts burn CPU at start: a crash loop, not a spin' },
      {
        feature: 'memory',
        weight: 1.5,
        unless: ['trafficUp'],
        why: 'its memory grows: a spin does not hold memory',
      },
      { feature: 'upstreamTrafficUp', weight: 1.5, why: 'traffic rose upstream of it: more load reaches it' },
      { feature: 'deploy', weight: 1.5, why: 'a deploy just before points at the new version' },
    ],
  },
  memory_leak: {
    kind: 'memory_leak',
    summary: 'the process holds more and more memory until it is restarted',
    requires: ['memory'],
    support: [
      {
        feature: 'memory',
        weight: 3.5,
        unless: ['trafficUp'],
        why: 'its memory grows without more traffic to explain it',
      },
      { feature: 'latency', weight: 0.3, unless: TRAVELS, why: 'garbage collection slows its requests' },
    ],
    against: [
      { feature: 'restarts', weight: 1, why: 'its replicas restart: memory started again from zero' },
      { feature: 'deploy', weight: 1, why: 'a deploy just before points at the new version' },
    ],
  },
  latency: {
    kind: 'latency',
    summary: 'every request the service serves waits longer, with no resource of its own exhausted',
    requires: ['latency', 'calledSlow'],
    support: [
      { feature: 'latency', weight: 2.5, unless: TRAVELS, why: 'its own requests got slower' },
      { feature: 'calledSlow', weight: 2, unless: TRAVELS, why: 'its callers see their calls to it slow' },
    ],
    against: [
      { feature: 'cpu', weight: 2, unless: ['trafficUp'], why: 'its CPU rose: a CPU-bound service' },
      { feature: 'eventLoop', weight: 1, unless: ['trafficUp'], why: 'its event loop lags: CPU-bound' },
      { feature: 'ownErrors', weight: 1, unless: TRAVELS, why: 'it fails requests too' },
      { feature: 'deploy', weight: 2, why: 'a deploy just before points at the new version' },
      { feature: 'trafficUp', weight: 1.5, why: 'more traffic explains the wait' },
      { feature: 'upstreamTrafficUp', weight: 1, why: 'traffic rose upstream of it: more load reaches it' },
      { feature: 'poolErrors', weight: 1.5, unless: TRAVELS, why: 'it waits for its own connection pool' },
      { feature: 'poolShrunk', weight: 2, why: 'its connection pool shrank' },
      { feature: 'unavailable', weight: 1, why: 'it stopped answering' },
      { feature: 'restarts', weight: 1, why: 'its replicas restart' },
      { feature: 'diskErrors', weight: 1, why: 'its writes fail' },
      { feature: 'memory', weight: 0.5, unless: ['trafficUp'], why: 'its memory grows' },
    ],
  },
  error_burst: {
    kind: 'error_burst',
    summary: 'the service fails a share of its requests itself',
    requires: ['ownErrors', 'calledFailing', 'gatewayErrors'],
    support: [
      { feature: 'ownErrors', weight: 3, unless: TRAVELS, why: 'it fails requests itself' },
      { feature: 'calledFailing', weight: 2, unless: TRAVELS, why: 'its callers see their calls to it fail' },
      { feature: 'gatewayErrors', weight: 0.5, unless: TRAVELS, why: 'it answers 5xx' },
      { feature: 'logErrors', weight: 0.5, unless: TRAVELS, why: 'its log has more errors' },
    ],
    against: [
      { feature: 'deploy', weight: 2.5, why: 'a deploy just before points at the new version' },
      { feature: 'diskUsage', weight: 2, why: 'its disk fills' },
      { feature: 'diskErrors', weight: 2, why: 'its writes fail: a full disk' },
      { feature: 'poolErrors', weight: 2, unless: TRAVELS, why: 'it runs out of pooled connections' },
      { feature: 'poolShrunk', weight: 2, why: 'its connection pool shrank' },
      { feature: 'poolQueue', weight: 1, unless: TRAVELS, why: 'requests queue for its connection pool' },
      { feature: 'unavailable', weight: 1.5, unless: ['deploy'], why: 'it stopped answering: it is down' },
      { feature: 'restarts', weight: 1.5, why: 'its replicas restart' },
      { feature: 'calledUnreachable', weight: 1, unless: ['deploy'], why: 'its callers cannot reach it' },
      { feature: 'trafficUp', weight: 1.5, why: 'more traffic explains failures under load' },
    ],
  },
  bad_deploy: {
    kind: 'bad_deploy',
    summary: 'a new version of the service misbehaves (fails requests, is slower)',
    requires: ['deploy'],
    support: [
      { feature: 'deploy', weight: 4, unless: TRAVELS, why: 'a deploy came just before its symptoms' },
      { feature: 'ownErrors', weight: 1.5, unless: TRAVELS, why: 'it fails requests itself since' },
      { feature: 'latency', weight: 1, unless: TRAVELS, why: 'its requests got slower since' },
      { feature: 'calledFailing', weight: 1, unless: TRAVELS, why: 'its callers see their calls to it fail' },
      { feature: 'calledSlow', weight: 0.5, unless: TRAVELS, why: 'its callers see their calls to it slow' },
    ],
    against: [],
  },
  crash_loop: {
    kind: 'crash_loop',
    summary: 'the replicas exit shortly after each start',
    requires: ['restarts', 'unavailable', 'calledUnreachable'],
    support: [
      { feature: 'restarts', weight: 3, why: 'its replicas restart again and again' },
      { feature: 'unavailable', weight: 2, unless: ['deploy'], why: 'its targets stopped answering' },
      { feature: 'calledUnreachable', weight: 2, unless: ['deploy'], why: 'its callers cannot reach it' },
      { feature: 'gatewayErrors', weight: 0.3, unless: TRAVELS, why: 'it answers 5xx' },
    ],
    against: [{ feature: 'deploy', weight: 1.5, why: 'a deploy just before points at the new version' }],
  },
  pool_exhaustion: {
    kind: 'pool_exhaustion',
    summary: "the service's connection pool to its dependencies is too small: requests queue and time out",
    requires: ['poolErrors', 'poolShrunk', 'poolQueue', 'poolInUse'],
    support: [
      {
        feature: 'poolErrors',
        weight: 3,
        unless: TRAVELS,
        why: 'waits for a pooled connection time out while its dependencies are healthy',
      },
      { feature: 'poolShrunk', weight: 3, why: 'its pool may hold fewer connections' },
      { feature: 'poolQueue', weight: 2, unless: TRAVELS, why: 'requests queue for a pooled connection' },
      { feature: 'poolInUse', weight: 0.5, unless: TRAVELS, why: 'its pooled connections are taken' },
      { feature: 'gatewayErrors', weight: 1, unless: TRAVELS, why: 'it answers 503 without calling out' },
      {
        feature: 'calleesTrafficDown',
        weight: 1,
        unless: TRAVELS,
        why: 'its healthy dependencies get fewer calls from it',
      },
      { feature: 'latency', weight: 0.5, unless: TRAVELS, why: 'its requests wait for a connection' },
    ],
    against: [
      { feature: 'deploy', weight: 1, why: 'a deploy just before points at the new version' },
      { feature: 'trafficUp', weight: 2.5, why: 'more traffic explains a full pool' },
    ],
  },
  disk_fill: {
    kind: 'disk_fill',
    summary: "the service's data directory fills until writes fail",
    requires: ['diskUsage', 'diskErrors'],
    support: [
      {
        feature: 'diskUsage',
        weight: 3,
        unless: ['trafficUp'],
        why: 'its disk use grows faster than its traffic',
      },
      { feature: 'diskErrors', weight: 3, why: 'its writes fail for want of space' },
      { feature: 'logErrors', weight: 0.3, why: 'its log has more errors' },
      {
        feature: 'calledFailing',
        weight: 0.5,
        unless: TRAVELS,
        why: 'its callers see their calls to it fail',
      },
    ],
    against: [],
  },
  traffic_surge: {
    kind: 'traffic_surge',
    summary: 'more requests come in at the entry than the fleet is sized for',
    requires: ['trafficUp'],
    support: [
      {
        feature: 'trafficUp',
        weight: 3,
        unless: ['upstreamTrafficUp'],
        why: 'its traffic rose with no rise upstream of it',
      },
      { feature: 'entry', weight: 1, why: 'requests enter the system here' },
      { feature: 'downstreamTrafficUp', weight: 1.5, why: 'the services it calls see more traffic too' },
    ],
    against: [
      { feature: 'trafficDown', weight: 1, why: 'its traffic also fell' },
      { feature: 'deploy', weight: 1, why: 'a deploy just before points at the new version' },
    ],
  },
  log_injection: {
    kind: 'log_injection',
    summary: 'lines that did not come from the service appear in its log; nothing else is wrong',
    requires: ['novelty', 'unusualLogs'],
    support: [
      { feature: 'novelty', weight: 2, why: 'its log has lines of a shape never seen before' },
      { feature: 'unusualLogs', weight: 1.5, why: 'unusual lines appeared in its log' },
    ],
    against: [
      {
        feature: 'otherHarm',
        weight: 4,
        why: 'it has real symptoms: the new log lines come with a fault, they are not it',
      },
    ],
  },
};
