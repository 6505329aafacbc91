/**
 * Choreography: the event envelope and its schemas, streams and durable
 * consumers, idempotent handling, dead letters, leader election and fencing.
 * This file lists everything other parts may use.
 */
export { configBusOptions, connectBus, listBucket } from './bus.ts';
export {
  EventConsumer,
  consumerConfig,
  consumerDeps,
  drainOutbox,
  ensureConsumer,
  writeOutbox,
} from './consumer.ts';
export {
  DeadLetterReason,
  deadLetterMessage,
  deadLetterSchema,
  publishDeadLetter,
  readDeadLetters,
} from './dead-letter.ts';
export {
  compareFence,
  createEvent,
  decodeEvent,
  deterministicId,
  encodeEvent,
  MAX_EVENT_BYTES,
  publisherOf,
  validateEvent,
} from './envelope.ts';
export {
  ChoreographyError,
  EventValidationError,
  NonRetryableError,
  NotLeaderError,
  PublishError,
  StaleFenceError,
} from './errors.ts';
export { connectEtcd, ETCD_CALL_TIMEOUT_MS } from './etcd.ts';
export {
  ActionName,
  EnvironmentName,
  eventDataSchemas,
  eventTypes,
  FaultKind,
  isEventType,
  MetricKind,
  RiskTier,
  ServiceName,
  Severity,
  SIGNAL_HARM,
  SignalClass,
  SignalStat,
  StreamKind,
  streamKindOf,
} from './event-types.ts';
export { checkFence, fenceRefusals } from './fencing.ts';
export { claimEvent, PROCESSED_RETENTION_S, pruneProcessed, wasProcessed } from './idempotency.ts';
export { hash32 } from './hash.ts';
export { checkSamples, MAX_SAMPLES } from './metric-samples.ts';
export { LeaderElection } from './leader-election.ts';
export { Membership, rendezvousOwner } from './membership.ts';
export { PartitionOwnership } from './partition-ownership.ts';
export { deadLetters, eventsHandled, fenceRefusalsTotal, handleLatency, registry } from './metrics.ts';
export { choreographyMigrations, inTransaction, migrate, quoteSchema } from './migrations.ts';
export { Publisher } from './publisher.ts';
export { readEvents, visitEvents } from './read-events.ts';
export { pause, sleep } from './sleep.ts';
export { defaultStreamSettings, ensureStreams, streamConfigs, streamSettings } from './streams.ts';
export { names, partitionOf } from './subjects.ts';
export { replayTelemetry, TelemetryConsumer } from './telemetry-consumer.ts';
export {
  childTraceParent,
  formatTraceParent,
  isTraceParent,
  newTraceParent,
  parseTraceParent,
} from './trace-context.ts';

export type { Bus, BusOptions, NatsUserCredentials } from './bus.ts';
export type {
  ConsumerDeps,
  ConsumerOutcome,
  ConsumerSpec,
  EventHandler,
  HandlerContext,
  WorkContext,
  WorkHandler,
} from './consumer.ts';
export type { DeadLetter, DeadLetterInput } from './dead-letter.ts';
export type { AgentIdentity, CreateEventOptions, SentinelEvent } from './envelope.ts';
export type { Etcd3 } from './etcd.ts';
export type { EventData, EventType, MetricSampleData, PlanData } from './event-types.ts';
export type { FenceCheck, FenceVerdict } from './fencing.ts';
export type { ClaimResult } from './idempotency.ts';
export type {
  ElectionListener,
  ElectionState,
  LeaderElectionOptions,
  Leadership,
} from './leader-election.ts';
export type { MembershipOptions } from './membership.ts';
export type { Migration } from './migrations.ts';
export type { PartitionListener, PartitionOwnershipOptions } from './partition-ownership.ts';
export type { PublishResult, PublisherOptions } from './publisher.ts';
export type { PublisherCheck } from './publisher-check.ts';
export { proofOf, SIGNATURE_HEADER, SIGNER_HEADER } from './signing.ts';
export type { EventProof, EventSignature, EventSigner } from './signing.ts';
export type { ReadEventsOptions } from './read-events.ts';
export type { StreamSettings } from './streams.ts';
export type { Names } from './subjects.ts';
export type { ReplayOptions, TelemetryConsumerSpec, TelemetryHandler } from './telemetry-consumer.ts';
export type { TraceParent } from './trace-context.ts';
