/**
 * The choreography bench: how much of JetStream's own throughput survives
 * Sentinel's path "publish → durable consumer → idempotent handler → ack",
 * and the publish-to-handle latency at a steady 10,000 events/s.
 *
 * - raw: plain `js.publish(subject, bytes, { msgID })` with a window of
 *   publishes in flight, consumed by a plain durable pull consumer (same
 *   consumer settings as Sentinel's) that acks each message;
 * - runtime: the same events through `Publisher.publish` (validation,
 *   headers, Nats-Msg-Id) and an `EventConsumer` (decode + validation, one
 *   PostgreSQL transaction per micro-batch claiming each event id, then ack)
 *   with a handler that only counts;
 * - signed: the runtime path with every event signed by its publisher's
 *   Ed25519 key (a detector's, certified by the namespace's token authority)
 *   and every delivery checked as an agent checks it (certificate, signature
 *   over the received bytes, the signer's role, its scope) before the
 *   handler: `signing_cost_ratio` is signed over unsigned throughput.
 *
 * Each path runs in its own fresh namespace on the project's stack; both
 * publish and consume concurrently, timed from the first publish to the last
 * ack (raw) or the last handled event (runtime). Warm-up first, then three
 * runs of each, alternating, medians reported.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { childEnv } from '../../config/index.ts';
import { killLeaderUnderLoad, setUpFailover, TTL_S } from '../support/failover-rig.ts';
import { pino } from 'pino';
import type { Logger } from 'pino';
import {
  consumerConfig,
  createEvent,
  encodeEvent,
  EventConsumer,
  eventsHandled,
  quoteSchema,
} from '../../choreography/index.ts';
import type {
  AgentIdentity,
  ConsumerDeps,
  ConsumerOutcome,
  ConsumerSpec,
  EventHandler,
  PublisherCheck,
  SentinelEvent,
} from '../../choreography/index.ts';
import { mayPublish, SignerVerifier } from '../../governance/index.ts';
import { testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';
import { median, quantile } from './stats.ts';
import type { BenchResult } from './stats.ts';

/** Events per measured throughput run (a few seconds each on 2 cores). */
const N = 30_000;
/** Events per warm-up run of each path. */
const WARMUP = 5_000;
const RUNS = 3;
/** Publishes awaiting their ack at once, in every phase. */
const WINDOW = 1_000;
/** Latency phase: steady rate, warm-up and measured durations. */
const LAT_RATE_PER_S = 10_000;
const LAT_WARMUP_S = 1;
const LAT_MEASURE_S = 5;
/** A run that has not finished after this long failed. */
const RUN_TIMEOUT_MS = 180_000;

const TYPE = 'sentinel.anomaly.detected.v1';
/** Room for a whole run in the stream (test namespaces are small by default). */
const BENCH_STREAM_LIMITS = { SENTINEL_EVENTS_MAX_BYTES: String(512 * 1024 ** 2) };
const FILTER = 'anomaly.detected';
const benchAgent: AgentIdentity = { role: 'bench', instance: 'choreography' };

interface ThroughputRun {
  readonly eventsPerS: number;
  /** Publish side alone: events/s from the first publish to the last publish ack. */
  readonly publishPerS: number;
  readonly seconds: number;
  /** CPU time of this (publishing and consuming) process per event. */
  readonly cpuUsPerEvent: number;
  /** Runtime only: events per PostgreSQL transaction, on average. */
  readonly meanBatch?: number;
  /** Runtime only: deliveries found already claimed (redelivered after the ack wait). */
  readonly redelivered?: number;
}

function progress(line: string): void {
  process.stderr.write(`[choreography] ${line}\n`);
}

/** The signed path's publisher: a detector, whose key the test's token authority certified. */
const signedAgent: AgentIdentity = { role: 'detector', instance: 'bench' };

function anomaly(i: number, agent: AgentIdentity = benchAgent): SentinelEvent<typeof TYPE> {
  const now = Date.now();
  const service = `svc-${i % 16}`;
  return createEvent(
    TYPE,
    {
      environment: 'bench',
      service,
      stat: 'p99',
      signal: 'latency',
      series: { name: 'http_request_duration_seconds', labels: { service, quantile: '0.99' } },
      value: 1.2,
      baseline: 0.1,
      score: 0.8,
      direction: 'up',
      window: { startMs: now - 10_000, endMs: now },
      fingerprint: `${service}:latency:${i}`,
    },
    agent,
  );
}

function makeEvents(n: number, agent?: AgentIdentity): SentinelEvent<typeof TYPE>[] {
  return Array.from({ length: n }, (_, i) => anomaly(i, agent));
}

/** The check an agent's consumers make: the signature and certificate, then the signer's scope. */
function signatureCheck(env: TestEnv): PublisherCheck {
  const signatures = SignerVerifier.forPool({
    pool: env.pool,
    namespace: env.config.namespace,
    issuer: env.config.gateway.origin,
    overlapS: env.config.gateway.keyOverlapS,
  });
  return {
    async refuse(event, proof) {
      return (
        (await signatures.refusal(event, proof)) ??
        (mayPublish(event.agent, event.type) ? undefined : `no scope for ${event.type}`)
      );
    },
    report: () => Promise.reject(new Error('the bench publishes nothing a consumer should refuse')),
  };
}

/** Runs `send(0..n-1)` keeping at most `window` of them pending. */
async function pipelined(n: number, window: number, send: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await send(next++);
  };
  await Promise.all(Array.from({ length: Math.min(window, n) }, worker));
}

/** A promise resolved by `resolve()`, and rejected after `ms` with a description of where things stood. */
function completion(ms: number, what: () => string): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((res, rej) => {
    resolve = () => {
      clearTimeout(timer);
      res();
    };
    timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what()}`)), ms);
  });
  return { promise, resolve };
}

/** Logger for the consumer: warnings to stderr, so stdout stays the report. */
function stderrLogger(): Logger {
  return pino({ level: 'warn', base: { bench: 'choreography' } }, pino.destination(2));
}

/** Fresh state for a run: an empty events stream and an empty claims table. */
async function reset(env: TestEnv): Promise<void> {
  await env.bus.jsm.streams.purge(env.bus.names.streams.events);
  await env.pool.query(`TRUNCATE ${quoteSchema(env.bus.names.namespace)}.processed_events`);
}

function spec(durable: string): ConsumerSpec {
  return { durable, stream: 'events', filter: FILTER };
}

async function rawRun(env: TestEnv, n: number, tag: string): Promise<ThroughputRun> {
  const { js, jsm, names } = env.bus;
  const stream = names.streams.events;
  await reset(env);
  const s = spec(`raw_${tag}`);
  // The same consumer settings Sentinel's consumers get (explicit ack, max ack pending, ack wait).
  await jsm.consumers.add(stream, consumerConfig(names, s));
  const consumer = await js.consumers.get(stream, s.durable);
  const messages = await consumer.consume({ max_messages: 512 });
  const events = makeEvents(n);
  const subject = names.subjectOf(TYPE);

  let acked = 0;
  let tEnd = 0;
  const done = completion(RUN_TIMEOUT_MS, () => `raw run ${tag}: ${acked}/${n} acked`);
  const consuming = (async () => {
    for await (const m of messages) {
      m.ack();
      if (++acked === n) {
        tEnd = performance.now();
        done.resolve();
      }
    }
  })();

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await pipelined(n, WINDOW, async (i) => {
    const e = events[i] as SentinelEvent;
    await js.publish(subject, encodeEvent(e), { msgID: e.id });
  });
  const tPublished = performance.now();
  await done.promise;
  const cpu = process.cpuUsage(cpu0);
  await messages.close();
  await consuming;
  await jsm.consumers.delete(stream, s.durable);
  const seconds = (tEnd - t0) / 1000;
  return {
    eventsPerS: n / seconds,
    publishPerS: n / ((tPublished - t0) / 1000),
    seconds,
    cpuUsPerEvent: (cpu.user + cpu.system) / n,
  };
}

/** A deps object whose consumer logs to stderr. */
function depsOf(env: TestEnv, log: Logger): ConsumerDeps {
  return { ...env.deps(), log };
}

/**
 * Counts transactions: every handler call of one batch runs in one macrotask
 * (the handler resolves at once), and batches are separated by PostgreSQL
 * round trips, so a handler call with no batch open starts a new one.
 */
function batchCounter(): { readonly seen: () => void; readonly batches: () => number } {
  let open = false;
  let batches = 0;
  return {
    seen() {
      if (open) return;
      open = true;
      batches++;
      setImmediate(() => (open = false));
    },
    batches: () => batches,
  };
}

async function runtimeRun(
  env: TestEnv,
  log: Logger,
  n: number,
  tag: string,
  signed = false,
): Promise<ThroughputRun> {
  await reset(env);
  // The test's publisher signs what a certified role claims; the bench role has no key.
  const events = makeEvents(n, signed ? signedAgent : benchAgent);
  let handled = 0;
  let tEnd = 0;
  const batches = batchCounter();
  const done = completion(RUN_TIMEOUT_MS, () => `runtime run ${tag}: ${handled}/${n} handled`);
  const handler: EventHandler = () => {
    batches.seen();
    if (++handled === n) {
      tEnd = performance.now();
      done.resolve();
    }
    return Promise.resolve();
  };
  const s = spec(`${signed ? 'sig' : 'rt'}_${tag}`);
  const deps = signed ? { ...depsOf(env, log), publisherCheck: signatureCheck(env) } : depsOf(env, log);
  const consumer = new EventConsumer(deps, s, handler);
  await consumer.start();
  const duplicates0 = await outcomeCount(s.durable, 'duplicate');

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await pipelined(n, WINDOW, (i) => env.publisher.publish(events[i] as SentinelEvent));
  const tPublished = performance.now();
  await done.promise;
  const cpu = process.cpuUsage(cpu0);
  const redelivered = (await outcomeCount(s.durable, 'duplicate')) - duplicates0;
  await consumer.stop();
  await env.bus.jsm.consumers.delete(env.bus.names.streams.events, s.durable);
  const seconds = (tEnd - t0) / 1000;
  return {
    eventsPerS: n / seconds,
    publishPerS: n / ((tPublished - t0) / 1000),
    seconds,
    cpuUsPerEvent: (cpu.user + cpu.system) / n,
    meanBatch: handled / Math.max(1, batches.batches()),
    redelivered,
  };
}

interface LatencyRun {
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly samples: number;
  /** Events sent per second during the measured window. */
  readonly achievedRatePerS: number;
  /** Events handled per second during the measured window. */
  readonly handledRatePerS: number;
  readonly meanBatch: number;
  /** Deliveries the consumer found already claimed (redeliveries after the ack wait). */
  readonly redelivered: number;
  /** Seconds from the last send to the last event handled. */
  readonly drainS: number;
}

/**
 * Latency at a steady rate: a paced publisher in a process of its own (as the
 * agents that publish are) sends at the target rate for a warm-up and a
 * measured window; this process runs the runtime path (`EventConsumer`, batch
 * transaction, ack). Each event's latency is the time the handler sees it
 * minus the time it was due to be sent (sub-millisecond epoch clock shared by
 * both processes), so a publisher falling behind is counted, not hidden.
 */
async function latencyRun(env: TestEnv, log: Logger, tag: string, ratePerS: number): Promise<LatencyRun> {
  await reset(env);
  const wall = () => performance.timeOrigin + performance.now();
  const handledAt: number[] = [];
  const batches = batchCounter();
  const indexes: number[] = [];
  const handler: EventHandler = (event) => {
    batches.seen();
    indexes.push((event as SentinelEvent<typeof TYPE>).data.value);
    handledAt.push(wall());
    return Promise.resolve();
  };
  const s = spec(`lat_${tag}`);
  const consumer = new EventConsumer(depsOf(env, log), s, handler);
  await consumer.start();
  const duplicates0 = await outcomeCount(s.durable, 'duplicate');
  const child = spawn(
    process.execPath,
    [
      path.join(import.meta.dirname, 'paced-publisher.ts'),
      String(ratePerS),
      String(LAT_WARMUP_S),
      String(LAT_MEASURE_S),
    ],
    { env: childEnv(env.env), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  const report = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as {
    start: number;
    rate: number;
    sent: number;
    sentInWindow: number;
    windowFrom: number;
    windowTo: number;
    error: string | null;
  };
  if (code !== 0 || report.error)
    throw new Error(`paced publisher failed: ${report.error ?? `exit ${code}`}`);
  const tLastSent = wall();
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  while (handledAt.length < report.sent) {
    if (Date.now() > deadline)
      throw new Error(`latency run ${tag}: ${handledAt.length}/${report.sent} handled`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const redelivered = (await outcomeCount(s.durable, 'duplicate')) - duplicates0;
  await consumer.stop();
  await env.bus.jsm.consumers.delete(env.bus.names.streams.events, s.durable);
  // Only events sent inside the measured window count.
  const measured: number[] = [];
  let handledInWindow = 0;
  for (let i = 0; i < handledAt.length; i++) {
    const at = handledAt[i] as number;
    const dueAt = report.start + ((indexes[i] as number) * 1000) / report.rate;
    if (dueAt >= report.windowFrom && dueAt < report.windowTo) measured.push(at - dueAt);
    if (at >= report.windowFrom && at < report.windowTo) handledInWindow++;
  }
  measured.sort((a, b) => a - b);
  return {
    p50Ms: quantile(measured, 0.5),
    p90Ms: quantile(measured, 0.9),
    p99Ms: quantile(measured, 0.99),
    maxMs: measured.at(-1) ?? NaN,
    samples: measured.length,
    achievedRatePerS: report.sentInWindow / LAT_MEASURE_S,
    handledRatePerS: handledInWindow / LAT_MEASURE_S,
    meanBatch: handledAt.length / Math.max(1, batches.batches()),
    redelivered,
    drainS: Math.max(0, handledAt.reduce((m, x) => Math.max(m, x), 0) - tLastSent) / 1000,
  };
}

/** How many deliveries a consumer has settled with an outcome, from the choreography's own counter. */
async function outcomeCount(consumer: string, outcome: ConsumerOutcome): Promise<number> {
  const metric = await eventsHandled.get();
  return metric.values
    .filter((v) => v.labels.consumer === consumer && v.labels.outcome === outcome)
    .reduce((sum, v) => sum + v.value, 0);
}

const round = (v: number, digits = 0): number => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

function describeRun(r: ThroughputRun): string {
  const batch =
    r.meanBatch === undefined
      ? ''
      : `, ${r.meanBatch.toFixed(1)} events/transaction, ${r.redelivered ?? 0} redelivered`;
  return `${Math.round(r.eventsPerS)} events/s in ${r.seconds.toFixed(2)} s (publish side ${Math.round(r.publishPerS)}/s, ${r.cpuUsPerEvent.toFixed(0)} µs CPU/event here${batch})`;
}

/** Kill -9 of the leader this many times (a fresh rig each), median reported. */
const FAILOVER_RUNS = 3;

/**
 * `failover_ms`: two correlator processes under a steady load of anomalies;
 * kill -9 of the leader to the first incident event the standby's fence gets
 * accepted downstream. The lease TTL (3 s) is the floor no election could
 * beat; the ratio to it is reported beside.
 */
async function failoverRun(i: number): Promise<number> {
  const rig = await setUpFailover(`benchfo${i}`);
  try {
    const { tookMs, load } = await killLeaderUnderLoad(rig, 60_000);
    await load.stop();
    return tookMs;
  } finally {
    await rig.close();
  }
}

export async function run(): Promise<BenchResult> {
  const started = performance.now();
  progress('bringing up the stack and two fresh namespaces');
  const log = stderrLogger();
  const rawEnv = await testEnv('benchraw', BENCH_STREAM_LIMITS);
  let rtEnv: TestEnv | undefined;
  try {
    rtEnv = await testEnv('benchrt', BENCH_STREAM_LIMITS);
    progress(`warm-up: ${WARMUP} events through each path`);
    progress(`  raw warm-up: ${describeRun(await rawRun(rawEnv, WARMUP, 'w'))}`);
    progress(`  runtime warm-up: ${describeRun(await runtimeRun(rtEnv, log, WARMUP, 'w'))}`);
    progress(`  signed warm-up: ${describeRun(await runtimeRun(rtEnv, log, WARMUP, 'sw', true))}`);

    const raw: ThroughputRun[] = [];
    const rt: ThroughputRun[] = [];
    const signed: ThroughputRun[] = [];
    for (let i = 1; i <= RUNS; i++) {
      const r = await rawRun(rawEnv, N, String(i));
      raw.push(r);
      progress(`raw run ${i}/${RUNS}: ${describeRun(r)}`);
      const t = await runtimeRun(rtEnv, log, N, String(i));
      rt.push(t);
      progress(`runtime run ${i}/${RUNS}: ${describeRun(t)}`);
      const g = await runtimeRun(rtEnv, log, N, `s${i}`, true);
      signed.push(g);
      progress(`signed run ${i}/${RUNS}: ${describeRun(g)}`);
    }

    progress(
      `latency: ${LAT_RATE_PER_S}/s through the runtime path, ${LAT_WARMUP_S} s warm-up + ${LAT_MEASURE_S} s measured`,
    );
    const lat = await latencyRun(rtEnv, log, '1', LAT_RATE_PER_S);
    // The same at half the rate: what latency looks like when the machine is not saturated.
    const half = await latencyRun(rtEnv, log, '2', LAT_RATE_PER_S / 2);
    progress(
      `latency at ${LAT_RATE_PER_S / 2}/s: p50 ${half.p50Ms.toFixed(2)} ms, p99 ${half.p99Ms.toFixed(2)} ms; sent ${Math.round(half.achievedRatePerS)}/s`,
    );
    progress(
      `latency: p50 ${lat.p50Ms.toFixed(2)} ms, p90 ${lat.p90Ms.toFixed(2)} ms, p99 ${lat.p99Ms.toFixed(2)} ms, max ${lat.maxMs.toFixed(2)} ms over ${lat.samples} events; sent ${Math.round(lat.achievedRatePerS)}/s, handled ${Math.round(lat.handledRatePerS)}/s, ${lat.meanBatch.toFixed(1)} events/transaction, ${lat.redelivered} redelivered, drained ${lat.drainS.toFixed(2)} s after the last send`,
    );

    const failovers: number[] = [];
    for (let i = 1; i <= FAILOVER_RUNS; i++) {
      failovers.push(await failoverRun(i));
      progress(
        `failover ${i}/${FAILOVER_RUNS}: the standby's first fenced action ${failovers.at(-1)} ms after kill -9`,
      );
    }

    const rawPerS = median(raw.map((r) => r.eventsPerS));
    const rtPerS = median(rt.map((r) => r.eventsPerS));
    const signedPerS = median(signed.map((r) => r.eventsPerS));
    const results: Record<string, number> = {
      runtime_events_per_s: round(rtPerS),
      signed_events_per_s: round(signedPerS),
      // Goal: at most 10 % of the runtime path's throughput lost to signing and verifying.
      signing_cost_ratio: round(1 - signedPerS / rtPerS, 3),
      signed_cpu_us_per_event: round(median(signed.map((r) => r.cpuUsPerEvent)), 1),
      raw_events_per_s: round(rawPerS),
      ratio_to_raw: round(rtPerS / rawPerS, 3),
      p50_ms: round(lat.p50Ms, 2),
      p99_ms: round(lat.p99Ms, 2),
      p90_ms: round(lat.p90Ms, 2),
      max_ms: round(lat.maxMs, 2),
      achieved_rate_per_s: round(lat.achievedRatePerS),
      p50_ms_at_half_rate: round(half.p50Ms, 2),
      p99_ms_at_half_rate: round(half.p99Ms, 2),
      achieved_half_rate_per_s: round(half.achievedRatePerS),
      handled_rate_per_s: round(lat.handledRatePerS),
      latency_events: lat.samples,
      runtime_publish_per_s: round(median(rt.map((r) => r.publishPerS))),
      raw_publish_per_s: round(median(raw.map((r) => r.publishPerS))),
      runtime_cpu_us_per_event: round(median(rt.map((r) => r.cpuUsPerEvent)), 1),
      raw_cpu_us_per_event: round(median(raw.map((r) => r.cpuUsPerEvent)), 1),
      runtime_events_per_transaction: round(median(rt.map((r) => r.meanBatch ?? 0)), 1),
      runtime_redelivered: median(rt.map((r) => r.redelivered ?? 0)),
      latency_events_per_transaction: round(lat.meanBatch, 1),
      latency_redelivered: lat.redelivered,
      latency_drain_s: round(lat.drainS, 2),
      failover_ms: round(median(failovers)),
      failover_max_ms: Math.max(...failovers),
      failover_ratio_to_ttl: round(median(failovers) / (TTL_S * 1000), 2),
      events_per_run: N,
      runs: RUNS,
      bench_duration_s: 0,
    };
    results.bench_duration_s = round((performance.now() - started) / 1000, 1);
    return { bench: 'choreography', results };
  } finally {
    progress('closing namespaces');
    await rawEnv
      .close()
      .catch((err: unknown) => progress(`closing the raw namespace failed: ${String(err)}`));
    await rtEnv
      ?.close()
      .catch((err: unknown) => progress(`closing the runtime namespace failed: ${String(err)}`));
    log.flush();
  }
}
