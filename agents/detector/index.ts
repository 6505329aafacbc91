/**
 * The detector: a pure, per-series streaming anomaly detector (no I/O, no
 * clock), the pre-processing live Prometheus data needs before it (counter
 * rates, histogram quantiles, log counts), anomaly episodes, the agent that
 * runs it over telemetry partitions, and the offline NAB runner and scorer
 * that measure it.
 */
export { SeriesDetector, DETECTOR_COMPONENTS } from './series-detector.ts';
export { detector, startDetectorAgent } from './detector-agent.ts';
export { NoveltyEpisodes, SignalEpisodes } from './episode.ts';
export { LOG_LINES_METRIC, LogCounts, lineShape, NEW_SHAPES_METRIC } from './log-patterns.ts';
export { classify, significanceFloor } from './signal-class.ts';
export { partitionMachine } from './partition-machine.ts';
export { seriesKey, TargetSignals } from './signals.ts';
export { TelemetryDetector } from './telemetry-detector.ts';
export { CounterRate, NoRateReason } from './counter-rate.ts';
export { histogramQuantile } from './histogram-quantile.ts';
export { NabInputError } from './errors.ts';
export { parseNabTimestamp } from './nab-files.ts';
export { runNab, scoreDataFile } from './nab-runner.ts';
export {
  benchResults,
  formatSummary,
  NAB_PROFILES,
  PROBATION_FRACTION,
  probationaryLength,
  readResults,
  readWindows,
  scaledSigmoid,
  scoreCorpus,
  scoreNab,
} from './nab-scorer.ts';

export type { DetectorComponent, SeriesDetectorOptions } from './series-detector.ts';
export type { DetectorAgentOptions } from './detector-agent.ts';
export type { EpisodeChange, EpisodeOptions, EpisodeTracker } from './episode.ts';
export type { PartitionContext, PartitionEvent } from './partition-machine.ts';
export type { SignalSample, TargetSignalsOptions } from './signals.ts';
export type { DetectorOutput, DetectorStats, TelemetryDetectorOptions } from './telemetry-detector.ts';
export type { CounterRateOptions, CounterRateResult } from './counter-rate.ts';
export type { HistogramBucket } from './histogram-quantile.ts';
export type { NabRunOptions, NabRunSummary, StreamScorer } from './nab-runner.ts';
export type {
  CostMatrix,
  FileScore,
  NabProfileName,
  ProfileScore,
  ScoredSeries,
  ThresholdScore,
} from './nab-scorer.ts';
