/**
 * Follows a log file the way `tail -F` does: reads what was appended since the
 * last call, keeps a partial last line for next time, and starts over when
 * the file shrank (truncated or rotated). Lines are bounded and kept verbatim
 * as data: a JSON line (pino's format) gives its time and level, anything
 * else is carried as plain text. Nothing in a line is ever interpreted.
 */
import { open, stat } from 'node:fs/promises';

export interface LogLine {
  readonly timestampMs: number;
  readonly level: string;
  /** The line as written, cut to {@link MAX_LINE} characters. */
  readonly text: string;
}

/** Longest line kept (the telemetry schema's limit). */
export const MAX_LINE = 8192;
/** Most bytes read per call, so one huge burst cannot stall the collector. */
const MAX_READ = 1024 * 1024;

const PINO_LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

export class LogFollower {
  readonly path: string;
  #offset = 0;
  #partial = '';
  #fromEnd: boolean;

  /** `fromEnd`: skip what the file already holds (follow only new lines). */
  constructor(path: string, options: { fromEnd?: boolean; offset?: number } = {}) {
    this.path = path;
    this.#offset = options.offset ?? 0;
    this.#fromEnd = options.fromEnd ?? false;
  }

  /** The lines appended since the last call (empty when the file is missing). */
  async read(nowMs: number = Date.now()): Promise<LogLine[]> {
    let size: number;
    try {
      size = (await stat(this.path)).size;
    } catch {
      return [];
    }
    if (this.#fromEnd) {
      this.#fromEnd = false;
      this.#offset = size;
      return [];
    }
    if (size < this.#offset) {
      this.#offset = 0;
      this.#partial = '';
    }
    if (size === this.#offset) return [];
    const length = Math.min(size - this.#offset, MAX_READ);
    const fh = await open(this.path, 'r');
    let text: string;
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, this.#offset);
      this.#offset += bytesRead;
      text = this.#partial + buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fh.close();
    }
    const parts = text.split('\n');
    this.#partial = (parts.pop() ?? '').slice(0, MAX_LINE);
    return parts.filter((l) => l.length > 0).map((l) => toLogLine(l, nowMs));
  }
}

function toLogLine(line: string, nowMs: number): LogLine {
  const text = line.length > MAX_LINE ? line.slice(0, MAX_LINE) : line;
  if (line.startsWith('{')) {
    try {
      const parsed = JSON.parse(line) as { time?: unknown; level?: unknown };
      const t =
        typeof parsed.time === 'number'
          ? parsed.time
          : typeof parsed.time === 'string'
            ? Date.parse(parsed.time)
            : NaN;
      const level =
        typeof parsed.level === 'number'
          ? (PINO_LEVELS[parsed.level] ?? 'info')
          : typeof parsed.level === 'string'
            ? parsed.level.slice(0, 16)
            : 'info';
      return { timestampMs: Number.isFinite(t) && t > 0 ? Math.trunc(t) : nowMs, level, text };
    } catch {
      // Not JSON after all: plain text.
    }
  }
  return { timestampMs: nowMs, level: 'info', text };
}
