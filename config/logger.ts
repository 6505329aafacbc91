import { pino } from 'pino';
import type { Logger } from 'pino';

/**
 * Creates the structured (JSON) logger every process uses. Bindings name the
 * agent, instance and, per line, the incident and trace ids.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime });
}

export type { Logger };
