/**
 * How a Sentinel process ends: SIGTERM or SIGINT runs its graceful stop once
 * (a leader resigns, a server stops serving, connections drain), then exits 0;
 * a stop that fails, or takes longer than `graceMs`, exits 1 so the
 * supervisor restarts it.
 */
import type { Logger } from './logger.ts';

export function stopOnSignals(stop: () => Promise<void>, log: Logger, graceMs = 10_000): void {
  let exiting = false;
  const shutdown = (signal: string) => {
    if (exiting) return;
    exiting = true;
    log.info({ signal }, 'stopping');
    setTimeout(() => process.exit(1), graceMs).unref();
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
