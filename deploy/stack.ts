/**
 * `sentinel stack up|down|status`: the four private servers Sentinel runs
 * against on a developer's machine or in CI.
 *
 * A server whose URL was set from outside (`config.external`) belongs to
 * someone else: we only ask whether it answers. Every other server is ours:
 * installed if missing, started detached on its loopback port with its files
 * under the Sentinel home, and found again later through its pid file. The
 * machine's own services on the standard ports are never touched.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/index.ts';
import { StackError, StackErrorCode } from './errors.ts';
import { ensureInstalled } from './install.ts';
import { silentLog } from './log.ts';
import type { StackLog } from './log.ts';
import { portIsFree, redact } from './ports.ts';
import {
  forgetProcess,
  isRunning,
  readProcessRecord,
  startDetached,
  stopProcess,
  terminate,
} from './process-control.ts';
import type { ProcessRecord } from './process-control.ts';
import { waitUntilAnswering } from './readiness.ts';
import { serverKinds, serverPaths } from './server-definition.ts';
import type { ServerContext, ServerDefinition, ServerKind } from './server-definition.ts';
import { servers } from './servers.ts';

/** Options of {@link stackUp}. */
export interface StackUpOptions {
  /** Progress and warnings. @default silent */
  readonly log?: StackLog;
  /** How long each server may take to answer once started. @default 30000 */
  readonly timeoutMs?: number;
}

/** One server as {@link stackStatus} sees it. */
export interface ServerStatus {
  readonly name: ServerKind;
  /** The config's URL, password masked. */
  readonly url: string;
  /** `managed`: our private instance; `external`: its URL was given from outside. */
  readonly mode: 'managed' | 'external';
  /** Pid of our running instance; `null` when external or not running. */
  readonly pid: number | null;
  readonly answering: boolean;
}

/** One server after {@link stackUp}. */
export interface ServerUpResult extends ServerStatus {
  /** What `up` did: started it, found ours already running, or only probed an external one. */
  readonly action: 'started' | 'already-running' | 'probed';
  /** Whether its package was installed by this call. */
  readonly installed: boolean;
}

/** One server after {@link stackDown}. */
export interface ServerDownResult {
  readonly name: ServerKind;
  /** Pid that was stopped; `null` if none of ours was running. */
  readonly stopped: number | null;
}

function modeOf(config: Config, kind: ServerKind): 'managed' | 'external' {
  return config.external[kind] ? 'external' : 'managed';
}

/**
 * Brings every managed server up and waits until each answers; probes the
 * external ones. Idempotent: servers of ours that already run are left as
 * they are (same pids). Servers start in parallel; they do not depend on one
 * another, and apt installs queue among themselves.
 *
 * An external server that does not answer is reported (`answering: false`
 * and a warning), not thrown: it is not ours to fix. A managed server that
 * cannot be brought up throws its {@link StackError}; when several fail, a
 * `SEVERAL_FAILED` error carries them all.
 */
export async function stackUp(config: Config, options: StackUpOptions = {}): Promise<ServerUpResult[]> {
  const log = options.log ?? silentLog;
  // Created here, before any server makes a 0700 folder inside it with
  // `recursive`, which would give the home that mode too.
  for (const dir of [config.home, path.join(config.home, 'logs'), path.join(config.home, 'run')]) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  }
  const outcomes = await Promise.allSettled(
    serverKinds.map((kind) =>
      config.external[kind]
        ? probeExternal(servers[kind], config, log)
        : upManaged(servers[kind], config, log, options.timeoutMs ?? 30_000),
    ),
  );
  const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    throw new StackError(
      StackErrorCode.SEVERAL_FAILED,
      `${failures.length} servers failed to come up:\n${failures.map((f) => `- ${(f as Error).message}`).join('\n')}`,
      { cause: new AggregateError(failures) },
    );
  }
  return outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
}

async function probeExternal(def: ServerDefinition, config: Config, log: StackLog): Promise<ServerUpResult> {
  const answering = await def.probe(config, false);
  const url = redact(def.url(config));
  if (answering) log.info(`${def.title}: external at ${url}, answering`);
  else log.warn(`${def.title}: external at ${url} does not answer (set by ${def.envVar})`);
  return { name: def.kind, url, mode: 'external', pid: null, answering, action: 'probed', installed: false };
}

async function upManaged(
  def: ServerDefinition,
  config: Config,
  log: StackLog,
  timeoutMs: number,
): Promise<ServerUpResult> {
  const paths = serverPaths(config.home, def.kind);
  const context: ServerContext = { config, paths, log };
  let record: ProcessRecord | undefined = readProcessRecord(paths.runDir, def.kind);
  let installed = false;
  let action: ServerUpResult['action'];
  if (record !== undefined && isRunning(record) && def.outdated?.(context) === true) {
    log.info(`${def.title}: restarting pid ${record.pid}, started with an outdated config`);
    await terminate(record, def.stopSignal === undefined ? {} : { signal: def.stopSignal });
  }
  if (record !== undefined && isRunning(record)) {
    action = 'already-running';
  } else {
    // The pid files, if any, name a process that is gone or is no longer ours.
    if (record !== undefined) forgetProcess(paths.runDir, def.kind);
    // Ports first: a taken port is for a person to settle, so fail before a slow install.
    await assertPortsFree(def, config);
    installed = await ensureInstalled(def, { allowApt: config.allowApt, log });
    const plan = await def.prepare(context);
    record = await startDetached({
      name: def.kind,
      runDir: paths.runDir,
      logFile: paths.logFile,
      command: plan.command,
      args: plan.args,
      ...(plan.user === undefined ? {} : { user: plan.user }),
    });
    log.info(`${def.title}: started pid ${record.pid} for ${redact(def.url(config))}, log ${paths.logFile}`);
    action = 'started';
  }
  const started = record;
  await waitUntilAnswering({
    title: def.title,
    record: started,
    logFile: paths.logFile,
    probe: () => (def.ready === undefined ? def.probe(config, true) : def.ready(context)),
    timeoutMs,
  });
  if (def.setup !== undefined) await def.setup(context);
  // After setup the server must answer exactly as clients will use it.
  await waitUntilAnswering({
    title: def.title,
    record: started,
    logFile: paths.logFile,
    probe: () => def.probe(config, true),
    timeoutMs: 5_000,
  });
  if (action === 'already-running') log.info(`${def.title}: already running as pid ${started.pid}`);
  return {
    name: def.kind,
    url: redact(def.url(config)),
    mode: 'managed',
    pid: started.pid,
    answering: true,
    action,
    installed,
  };
}

async function assertPortsFree(def: ServerDefinition, config: Config): Promise<void> {
  for (const { port, purpose } of def.ports(config)) {
    if (await portIsFree(port)) continue;
    throw new StackError(
      StackErrorCode.PORT_TAKEN,
      `port ${port} on 127.0.0.1 (${purpose}) is already in use by a process Sentinel did not start, ` +
        `so the private ${def.title} cannot listen there. Find it with: ss -ltnp 'sport = :${port}'. ` +
        `Stop that process, or set ${def.envVar} to a ${def.title} you run yourself (the stack then treats it as external).`,
    );
  }
}

/**
 * Stops every server of ours that has a pid file in the Sentinel home, in
 * parallel, and removes the pid files; data stays. Also stops an instance we
 * started before its URL was made external, since it is still ours. Never
 * signals a process whose pid file we did not write or that no longer matches it.
 */
export async function stackDown(
  config: Config,
  options: { readonly log?: StackLog } = {},
): Promise<ServerDownResult[]> {
  const log = options.log ?? silentLog;
  return Promise.all(
    serverKinds.map(async (kind): Promise<ServerDownResult> => {
      const def = servers[kind];
      const { runDir } = serverPaths(config.home, kind);
      const stopped = await stopProcess(
        runDir,
        kind,
        def.stopSignal === undefined ? {} : { signal: def.stopSignal },
      );
      if (stopped !== null) log.info(`${def.title}: stopped pid ${stopped}`);
      return { name: kind, stopped };
    }),
  );
}

/** Where each server is, whether it is ours, and whether it answers now. */
export async function stackStatus(config: Config): Promise<ServerStatus[]> {
  return Promise.all(
    serverKinds.map(async (kind): Promise<ServerStatus> => {
      const def = servers[kind];
      const mode = modeOf(config, kind);
      const record =
        mode === 'managed' ? readProcessRecord(serverPaths(config.home, kind).runDir, kind) : undefined;
      const pid = record !== undefined && isRunning(record) ? record.pid : null;
      return {
        name: kind,
        url: redact(def.url(config)),
        mode,
        pid,
        answering: await def.probe(config, mode === 'managed'),
      };
    }),
  );
}
