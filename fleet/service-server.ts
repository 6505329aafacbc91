/**
 * A replica's HTTP surface. `GET /work` is the service: a little real work
 * (hashing, a journal write to the data directory), then one call to each
 * dependency through the pool; any failed dependency makes the answer 5xx.
 * `GET /metrics` is Prometheus. `/_fleet/...` is the controller's: health,
 * faults, dependency addresses, pool size. Everything else is 404.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { z } from 'zod';
import { DiskFullError } from './data-dir.ts';
import type { DataDir } from './data-dir.ts';
import type { HttpClient } from './http-client.ts';
import { REPLICA_FAULT_KINDS, replicaFaultSchema } from './faults.ts';
import { HttpProblem, readJson, sendEmpty, sendJson, sendProblem } from './http.ts';
import { formatIssues, oneOf } from './issues.ts';
import type { Pool } from './pool.ts';
import { upstreamsSchema } from './replica-config.ts';
import type { ReplicaConfig } from './replica-config.ts';
import type { ReplicaFaults } from './replica-faults.ts';
import type { CallOutcome, ReplicaMetrics } from './replica-metrics.ts';
import type { UpstreamSet } from './upstream-set.ts';

/** Everything a replica's server works with. */
export interface ServiceDeps {
  readonly config: ReplicaConfig;
  readonly log: Logger;
  /** Where control-plane notes go (the process's own output, not the service log). */
  readonly control: (msg: string) => void;
  readonly metrics: ReplicaMetrics;
  readonly faults: ReplicaFaults;
  readonly pool: Pool;
  readonly upstreams: UpstreamSet;
  readonly client: HttpClient;
  readonly dataDir: DataDir;
}

const poolBodySchema = z.strictObject({ size: z.int().min(0).max(4096) });
/** Input hashed per request: the "real work". */
const WORK_INPUT = randomBytes(16 * 1024);
const WORK_ROUNDS = 16;

/** Statuses a failed dependency call turns into, worst first. */
const STATUS_OF: Record<Exclude<CallOutcome, 'ok'>, number> = {
  timeout: 504,
  pool_timeout: 503,
  pool_full: 503,
  no_upstream: 503,
  unreachable: 502,
  error: 502,
};

export function createServiceServer(deps: ServiceDeps): http.Server {
  const served = { count: 0 };
  const server = http.createServer((req, res) => {
    route(deps, served, req, res).catch((err: unknown) => {
      const status = err instanceof HttpProblem ? err.status : 500;
      if (status >= 500) deps.log.error({ err }, 'request handling failed');
      sendProblem(
        res,
        status,
        http.STATUS_CODES[status] ?? 'Error',
        err instanceof HttpProblem ? err.message : undefined,
      );
    });
  });
  // Keep-alive sockets from callers outlive a burst of requests, not a whole run.
  server.keepAliveTimeout = 5000;
  return server;
}

async function route(
  deps: ServiceDeps,
  served: { count: number },
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://replica');
  const p = url.pathname;
  const method = req.method ?? 'GET';
  if (p === '/work' && method === 'GET') return serveWork(deps, served, req, res);
  if (p === '/metrics' && method === 'GET') {
    const text = await deps.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
    res.end(text);
    return;
  }
  if (p === '/_fleet/health' && method === 'GET') {
    const { service, replica, version } = deps.config;
    return sendJson(res, 200, { service, replica, version, pid: process.pid });
  }
  if (p === '/_fleet/fault' && method === 'POST') {
    const fault = await readBody(req, replicaFaultSchema);
    deps.faults.apply(fault);
    deps.control(`fault applied: ${fault.kind}`);
    return sendEmpty(res);
  }
  const clear = /^\/_fleet\/fault\/([a-z_]+)$/.exec(p);
  if (clear && method === 'DELETE') {
    const kind = REPLICA_FAULT_KINDS.find((k) => k === clear[1]);
    if (!kind) throw new HttpProblem(400, `kind: ${oneOf(REPLICA_FAULT_KINDS)}`);
    await deps.faults.clear(kind);
    deps.control(`fault cleared: ${kind}`);
    return sendEmpty(res);
  }
  if (p === '/_fleet/upstreams' && method === 'PUT') {
    deps.upstreams.update(await readBody(req, upstreamsSchema));
    return sendEmpty(res);
  }
  if (p === '/_fleet/pool' && method === 'PUT') {
    const { size } = await readBody(req, poolBodySchema);
    deps.faults.setPoolSize(size);
    deps.control(`pool size set to ${size}`);
    return sendEmpty(res);
  }
  throw new HttpProblem(404, `no route ${method} ${p}`);
}

async function serveWork(
  deps: ServiceDeps,
  served: { count: number },
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const started = performance.now();
  const requestId = headerValue(req, 'x-request-id') ?? randomBytes(8).toString('hex');
  const finish = (status: number, fields: Record<string, unknown> = {}) => {
    const seconds = (performance.now() - started) / 1000;
    deps.metrics.requests.inc({ code: String(status) });
    deps.metrics.requestDuration.observe(seconds);
    const line = { requestId, status, durationMs: Math.round(seconds * 1000), ...fields };
    if (status >= 500) deps.log.warn(line, 'request failed');
    else if (++served.count % deps.config.requestLogSample === 0) deps.log.info(line, 'request served');
    else deps.log.debug(line, 'request served');
  };

  const delay = deps.faults.delayMs();
  if (delay > 0) await sleep(delay);
  if (deps.faults.shouldFail()) {
    deps.log.error({ requestId }, 'unhandled error while serving request');
    sendProblem(res, 500, 'Internal Server Error');
    return finish(500);
  }

  let digest: Buffer = WORK_INPUT;
  for (let i = 0; i < WORK_ROUNDS; i++)
    digest = createHash('sha256').update(digest).update(WORK_INPUT).digest();
  try {
    await deps.dataDir.journal(`${new Date().toISOString()} ${requestId} ${digest.toString('hex', 0, 8)}`);
  } catch (err) {
    deps.metrics.diskWriteErrors.inc();
    const message = err instanceof DiskFullError ? err.message : 'journal write failed';
    deps.log.error(
      { requestId, err: { code: (err as { code?: unknown }).code, message } },
      'journal write failed',
    );
    sendProblem(res, 507, 'Insufficient Storage');
    return finish(507);
  }

  const outcomes = await Promise.all(
    deps.config.dependsOn.map((dep) => callDependency(deps, dep, requestId)),
  );
  const failed = outcomes
    .filter((o) => o.outcome !== 'ok')
    .sort((a, b) => statusOf(b.outcome) - statusOf(a.outcome));
  const worst = failed[0];
  if (worst) {
    const status = statusOf(worst.outcome);
    sendProblem(res, status, http.STATUS_CODES[status] ?? 'Error', `dependency ${worst.dependency} failed`);
    return finish(status, { dependency: worst.dependency, outcome: worst.outcome });
  }
  sendJson(res, 200, {
    service: deps.config.service,
    replica: deps.config.replica,
    version: deps.config.version,
  });
  return finish(200);
}

/** The JSON body validated by `schema`; 400 with the findings when it does not match. */
async function readBody<T extends z.ZodType>(req: IncomingMessage, schema: T): Promise<z.output<T>> {
  const parsed = schema.safeParse(await readJson(req), { reportInput: true });
  if (!parsed.success) throw new HttpProblem(400, formatIssues(parsed.error).join('; '));
  return parsed.data;
}

function statusOf(outcome: CallOutcome): number {
  return outcome === 'ok' ? 200 : STATUS_OF[outcome];
}

async function callDependency(
  deps: ServiceDeps,
  dependency: string,
  requestId: string,
): Promise<{ dependency: string; outcome: CallOutcome }> {
  const started = performance.now();
  const outcome = await callOnce(deps, dependency, requestId);
  const seconds = (performance.now() - started) / 1000;
  deps.metrics.dependencyCalls.inc({ dependency, outcome });
  deps.metrics.dependencyDuration.observe({ dependency, outcome }, seconds);
  if (outcome !== 'ok') deps.log.warn({ requestId, dependency, outcome }, 'dependency call failed');
  return { dependency, outcome };
}

async function callOnce(deps: ServiceDeps, dependency: string, requestId: string): Promise<CallOutcome> {
  const address = deps.upstreams.pick(dependency);
  if (address === undefined) return 'no_upstream';
  const acquired = await deps.pool.acquire(deps.config.poolTimeoutMs);
  if (!acquired.ok) {
    if (acquired.reason === 'timeout') deps.metrics.poolTimeouts.inc();
    return acquired.reason === 'timeout' ? 'pool_timeout' : 'pool_full';
  }
  try {
    const r = await deps.client.get(`${address}/work`, deps.config.callTimeoutMs, {
      'x-request-id': requestId,
    });
    if (r.kind === 'timeout') return 'timeout';
    if (r.kind === 'unreachable') return 'unreachable';
    return r.status >= 500 ? 'error' : 'ok';
  } finally {
    acquired.release();
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s !== undefined && /^[A-Za-z0-9-]{1,64}$/.test(s) ? s : undefined;
}
