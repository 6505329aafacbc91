/**
 * The detector agent: replicas share the telemetry partitions (etcd-owned,
 * see PartitionOwnership), and each owned partition gets a
 * {@link TelemetryDetector} fed by the partition's durable consumer.
 *
 * Taking a partition over: the detector state lives in memory, so the new
 * owner first replays the partition's recent past (up to the consumer's ack
 * floor, learning only) to rebuild every series' baseline, then consumes from
 * where the previous owner stopped. An anomaly the previous owner had found
 * but not yet acknowledged is found again from the same samples, with the
 * same event id, and stored once.
 *
 * Each owned partition moves through a small lifecycle (see
 * `partition-machine.ts`): warming (replaying), live (consuming), released.
 */
import { createActor } from 'xstate';
import type { Actor } from 'xstate';
import {
  createEvent,
  NotLeaderError,
  PartitionOwnership,
  replayTelemetry,
  TelemetryConsumer,
} from '../../choreography/index.ts';
import type { Leadership, SentinelEvent } from '../../choreography/index.ts';
import type { AgentContext, AgentService, ServiceAgentDefinition } from '../runtime/agent-definition.ts';
import {
  anomaliesReported,
  partitionsOwned,
  samplesScored,
  seriesWatched,
  telemetryRefused,
} from './metrics.ts';
import { partitionMachine } from './partition-machine.ts';
import { TelemetryDetector } from './telemetry-detector.ts';
import type { TelemetryDetectorOptions } from './telemetry-detector.ts';

interface Worker {
  readonly partition: number;
  readonly detector: TelemetryDetector;
  readonly consumer: TelemetryConsumer;
  readonly lifecycle: Actor<typeof partitionMachine>;
}

export interface DetectorAgentOptions {
  readonly detector?: TelemetryDetectorOptions;
}

export async function startDetectorAgent(
  ctx: AgentContext,
  options: DetectorAgentOptions = {},
): Promise<AgentService> {
  const { config, bus, etcd, identity, log, publisher, publisherCheck } = ctx;
  const workers = new Map<number, Worker>();
  const queues = new Map<number, Promise<void>>();
  const serially = (p: number, fn: () => Promise<void>) => {
    const next = (queues.get(p) ?? Promise.resolve())
      .then(fn)
      .catch((err: unknown) => log.error({ err, partition: p }, 'partition transition failed'));
    queues.set(p, next);
  };

  const ownership = new PartitionOwnership({
    etcd,
    names: bus.names,
    role: identity.role,
    instance: identity.instance,
    partitions: config.telemetryPartitions,
    // Twice the singletons' TTL: a partition changing hands costs a replay, and
    // a detector busy with a burst of telemetry must not lose its partitions
    // over a late keepalive.
    ttlS: 2 * config.leaseTtlS,
    log,
  });

  const take = async (partition: number, leadership: Leadership) => {
    if (!leadership.isValid()) return;
    const lifecycle = createActor(partitionMachine, { input: { partition } });
    lifecycle.start();
    const detector = new TelemetryDetector(options.detector);
    // Anomalies found but not yet stored. The detector has moved past their
    // samples, so a redelivery would not find them again: they wait here, and
    // the batch is not acknowledged, until they are published.
    const unpublished: SentinelEvent[] = [];
    const publish = async (events: readonly SentinelEvent[]) => {
      for (const event of events) {
        if (!fresh(event)) {
          telemetryRefused.inc();
          continue;
        }
        samplesScored.inc(event.type === 'sentinel.telemetry.metrics.v1' ? sampleCount(event) : 0);
        for (const o of detector.take(event))
          unpublished.push(createEvent(o.type, o.data as never, identity, { id: o.id, cause: event }));
      }
      // Whatever is published past this point must come from the owner.
      if (unpublished.length > 0 && !leadership.isValid())
        throw new NotLeaderError(`partition ${partition} is no longer ours`);
      while (unpublished.length > 0) {
        const next = unpublished[0] as SentinelEvent;
        await publisher.publish(next);
        unpublished.shift();
        anomaliesReported.inc({
          kind: next.type === 'sentinel.anomaly.detected.v1' ? 'detected' : 'resolved',
        });
      }
    };
    const consumer = new TelemetryConsumer(
      bus,
      log,
      { durable: `${identity.role}-p${partition}`, partition, publisherCheck },
      publish,
    );
    const worker: Worker = { partition, detector, consumer, lifecycle };
    workers.set(partition, worker);
    const floor = await consumer.ackFloor();
    const replayed = await replayTelemetry(
      bus,
      { partition, sinceMs: Date.now() - config.detectorWarmupS * 1000, untilSeq: floor },
      (event) => detector.take(event, { learnOnly: true }),
    );
    lifecycle.send({ type: 'warmed', replayed });
    if (!leadership.isValid() || workers.get(partition) !== worker) return;
    await consumer.start();
    lifecycle.send({ type: 'consuming' });
    partitionsOwned.set(workers.size);
    log.info({ partition, replayed, ...detector.stats() }, 'partition taken over');
  };

  const drop = async (partition: number, reason: string) => {
    const worker = workers.get(partition);
    if (!worker) return;
    workers.delete(partition);
    worker.lifecycle.send({ type: 'released', reason });
    await worker.consumer.stop();
    worker.lifecycle.stop();
    partitionsOwned.set(workers.size);
    log.info({ partition, reason }, 'partition released');
  };

  ownership.start({
    acquired: (p, l) => serially(p, () => take(p, l)),
    released: (p, reason) => serially(p, () => drop(p, reason)),
  });

  const pruner = setInterval(() => {
    let series = 0;
    for (const w of workers.values()) {
      w.detector.prune(Date.now());
      series += w.detector.stats().series;
    }
    seriesWatched.set(series);
  }, 30_000);

  return {
    async lag() {
      const out: Record<string, number> = {};
      for (const w of workers.values()) out[w.consumer.spec.durable] = await w.consumer.lag().catch(() => -1);
      return out;
    },
    details: () => ({
      partitions: [...workers.values()].map((w) => ({
        partition: w.partition,
        state: String(w.lifecycle.getSnapshot().value),
        ...w.detector.stats(),
      })),
    }),
    async stop() {
      clearInterval(pruner);
      await ownership.close();
      await Promise.all([...queues.values()]);
      for (const p of [...workers.keys()]) await drop(p, 'stopping');
    },
  };
}

/** How far a scrape may lie in the future: further is a clock gone wrong, and would blind its target. */
const MAX_FUTURE_MS = 5 * 60_000;

/** Telemetry stamped too far in the future is refused (and counted), not learned from. */
function fresh(event: SentinelEvent): boolean {
  if (event.type !== 'sentinel.telemetry.metrics.v1') return true;
  return (
    (event as SentinelEvent<'sentinel.telemetry.metrics.v1'>).data.scrapedAtMs <= Date.now() + MAX_FUTURE_MS
  );
}

function sampleCount(event: SentinelEvent): number {
  return (event as SentinelEvent<'sentinel.telemetry.metrics.v1'>).data.samples.length;
}

export const detector: ServiceAgentDefinition = {
  kind: 'service',
  role: 'detector',
  mode: 'sharded',
  description: 'scores every telemetry series as it streams in and reports anomaly episodes',
  start: (ctx) => startDetectorAgent(ctx),
};
