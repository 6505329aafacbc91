/**
 * The program of one replica process, started by the controller with
 * `fork(service-main.ts, ['--config=<json>'])`. Once listening it reports
 * `{ type: 'listening', port }` over IPC. SIGTERM stops it gracefully; losing
 * the IPC channel (the controller died) stops it too, so no replica outlives
 * its fleet.
 */
import { parseReplicaArgs } from './replica-config.ts';
import { startReplica } from './replica.ts';

/** The message a replica sends its controller once it listens. */
export interface ListeningMessage {
  readonly type: 'listening';
  readonly port: number;
}

const control = (msg: string) => process.stdout.write(`${new Date().toISOString()} ${msg}\n`);

const config = parseReplicaArgs(process.argv.slice(2));
const replica = await startReplica(config, control);

let stopping = false;
const stop = (code: number) => {
  if (stopping) return;
  stopping = true;
  // A close that hangs (a connection that never ends) must not keep an orphan alive.
  setTimeout(() => process.exit(code), 3000).unref();
  replica.close().then(
    () => process.exit(code),
    () => process.exit(code),
  );
};
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));
process.on('disconnect', () => stop(0));
process.on('uncaughtException', (err) => {
  control(`uncaught: ${err.stack ?? String(err)}`);
  replica.flushLog();
  process.exit(1);
});

const message: ListeningMessage = { type: 'listening', port: replica.port };
process.send?.(message);
control(`${config.service}-${config.replica} ${config.version} listening on 127.0.0.1:${replica.port}`);
