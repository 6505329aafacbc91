/**
 * One replica of a service, assembled: the service log (pino, JSON lines to
 * the file the controller chose), the data directory, the pool, the metrics,
 * the faults and the HTTP server on 127.0.0.1 at a port the kernel picks.
 */
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { DataDir } from './data-dir.ts';
import { HttpClient } from './http-client.ts';
import { DiskFiller } from './disk-filler.ts';
import { MemoryLeak } from './memory-leak.ts';
import { Pool } from './pool.ts';
import type { ReplicaConfig } from './replica-config.ts';
import { ReplicaFaults } from './replica-faults.ts';
import { createReplicaMetrics } from './replica-metrics.ts';
import { createServiceServer } from './service-server.ts';
import { UpstreamSet } from './upstream-set.ts';

/** A replica that is serving. */
export interface RunningReplica {
  readonly port: number;
  /** Stops serving, lets in-flight requests finish (bounded), flushes the log. */
  close(): Promise<void>;
  /** Writes everything buffered to the log file now (before an abrupt exit). */
  flushLog(): void;
}

/** How long a closing replica waits for in-flight requests. */
const DRAIN_MS = 1000;

export async function startReplica(
  config: ReplicaConfig,
  control: (msg: string) => void,
): Promise<RunningReplica> {
  const destination = pino.destination({ dest: config.logFile, mkdir: true, sync: false });
  const log = pino(
    {
      level: config.logLevel,
      base: { service: config.service, replica: config.replica, version: config.version, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
  const flushLog = () => {
    try {
      destination.flushSync();
    } catch {
      // Nothing written yet (the stream is still opening): nothing to flush.
    }
  };

  const dataDir = new DataDir(config.dataDir, config.diskQuotaBytes, config.minFreeBytes);
  await dataDir.open();
  const pool = new Pool(config.poolSize, config.poolMaxQueue);
  const metrics = createReplicaMetrics({
    service: config.service,
    replica: config.replica,
    version: config.version,
    pool,
    dataDir,
  });
  const faults = new ReplicaFaults({
    leak: new MemoryLeak(config.leakCapBytes),
    filler: new DiskFiller(dataDir, (err) =>
      log.error({ err: { code: err.code, message: err.message } }, 'write failed'),
    ),
    pool,
    // Verbatim: the lines go to the file as they are, in order with pino's own lines.
    writeLogLines: (lines) => {
      for (const line of lines) destination.write(`${line}\n`);
    },
    crash: () => {
      log.fatal('unrecoverable state, exiting');
      flushLog();
      process.exit(1);
    },
    behaviour: config.behaviour,
  });
  if (config.exitAfterS !== undefined)
    faults.apply({ kind: 'crash_loop', params: { afterS: config.exitAfterS } });

  const client = new HttpClient();
  const server = createServiceServer({
    config,
    log,
    control,
    metrics,
    faults,
    pool,
    upstreams: new UpstreamSet(config.upstreams),
    client,
    dataDir,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ port }, `${config.service} ${config.version} started`);

  return {
    port,
    flushLog,
    async close() {
      faults.stopAll();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await Promise.race([closed, new Promise((r) => setTimeout(r, DRAIN_MS).unref())]);
      server.closeAllConnections();
      client.close();
      log.info('stopped');
      flushLog();
    },
  };
}
