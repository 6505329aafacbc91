/**
 * Refusals at the broker, into the security log. NATS tells a client its
 * permission violation (`-ERR`) and writes it to the server's log; it
 * publishes no advisory for it (2.9 and later). So the gateway follows the
 * log of the managed NATS server and records each violation that names this
 * namespace (its subjects, streams or buckets) as a `broker_violation`: who
 * (the connection's name, `role/instance`, and its nkey), what it tried
 * (publish or subscribe, and the subject: a JetStream API call names the
 * operation and the consumer), and from where.
 *
 * A flood is recorded once a minute per (client, kind, subject), with how
 * many were seen since. The log is read from its end when the gateway starts
 * (what happened while no gateway ran is not recorded), from the start again
 * when it was truncated or replaced. A deployment whose NATS logs elsewhere
 * ships that log instead; with no log file here nothing is followed, and the
 * gateway says so when it starts.
 */
import { open, stat } from 'node:fs/promises';
import type { Logger } from 'pino';

/** One refusal as the server logged it. */
export interface BrokerViolation {
  readonly kind: 'publish' | 'subscription';
  /** The connection's name (Sentinel names connections `role/instance`). */
  readonly client: string;
  readonly nkey: string;
  readonly subject: string;
  /** The client's address and port. */
  readonly address: string;
}

const LINE =
  /\[ERR\] (\S+) - cid:\d+ - (?:"(?:[^":]*:[^":]*:)?([^"]*)" - )?(Publish|Subscription) Violation - (?:User|Nkey|JWT User) "([^"]*)", Subject "([^"]*)"/;

/** The violation a server log line reports; undefined for any other line. */
export function parseViolation(line: string): BrokerViolation | undefined {
  const m = LINE.exec(line);
  if (m === null) return undefined;
  return {
    address: m[1] ?? '',
    client: m[2] ?? '',
    kind: m[3] === 'Publish' ? 'publish' : 'subscription',
    nkey: m[4] ?? '',
    subject: m[5] ?? '',
  };
}

/** Whether a subject names `namespace` (its subjects are `<ns>.…`, its streams and buckets `<NS>_…`). */
export function concerns(subject: string, namespace: string): boolean {
  const s = subject.toLowerCase();
  const ns = namespace.toLowerCase();
  return (
    s.startsWith(`${ns}.`) ||
    s.includes(`.${ns}.`) ||
    s.includes(`.${ns}_`) ||
    s.includes(`_${ns}.`) ||
    s.includes(`.kv_${ns}_`)
  );
}

export interface BrokerViolationWatcherOptions {
  readonly file: string;
  readonly namespace: string;
  /** Records one violation (and how many like it were seen since the last record). */
  readonly record: (v: BrokerViolation, seen: number) => Promise<void>;
  readonly log: Logger;
  /** @default 1000 */
  readonly pollMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

const RECORD_EVERY_MS = 60_000;
const MAX_READ_BYTES = 1024 * 1024;
const MAX_KEYS = 10_000;

/** Follows the NATS server's log; see the file comment. */
export class BrokerViolationWatcher {
  readonly #o: BrokerViolationWatcherOptions;
  #offset = -1;
  #partial = '';
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  /** Per (client, kind, subject): when it was last recorded, and how many were seen since. */
  readonly #recent = new Map<string, { atMs: number; unrecorded: number }>();

  constructor(o: BrokerViolationWatcherOptions) {
    this.#o = o;
  }

  /** Starts following from the log's current end. */
  async start(): Promise<void> {
    this.#offset = await sizeOf(this.#o.file);
    const tick = () => {
      this.#running = this.poll()
        .then(() => undefined)
        .catch((err: unknown) => this.#o.log.warn({ err }, 'could not read the NATS log'))
        .finally(() => {
          this.#timer = setTimeout(tick, this.#o.pollMs ?? 1000);
          this.#timer.unref();
        });
    };
    this.#timer = setTimeout(tick, this.#o.pollMs ?? 1000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Reads what the log gained since the last call and records its violations. */
  async poll(): Promise<number> {
    const size = await sizeOf(this.#o.file);
    if (size < 0) return 0;
    if (size < this.#offset || this.#offset < 0) {
      // Truncated or replaced (or absent before): read the new one from its start.
      this.#offset = 0;
      this.#partial = '';
    }
    if (size === this.#offset) return 0;
    const length = Math.min(size - this.#offset, MAX_READ_BYTES);
    const handle = await open(this.#o.file, 'r');
    let text: string;
    try {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, this.#offset);
      this.#offset += bytesRead;
      text = this.#partial + buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
    const lines = text.split('\n');
    this.#partial = (lines.pop() ?? '').slice(-8192);
    let recorded = 0;
    for (const line of lines) {
      const v = parseViolation(line);
      if (v === undefined || !concerns(v.subject, this.#o.namespace)) continue;
      const seen = this.#due(v);
      if (seen === 0) continue;
      await this.#o.record(v, seen);
      recorded++;
    }
    return recorded;
  }

  /** How many of `v`'s kind to record now (0: within a minute of the last record, counted for the next). */
  #due(v: BrokerViolation): number {
    const nowMs = (this.#o.now ?? Date.now)();
    const key = `${v.client}\u0000${v.kind}\u0000${v.subject}`;
    const last = this.#recent.get(key);
    if (last !== undefined && nowMs - last.atMs < RECORD_EVERY_MS) {
      last.unrecorded++;
      return 0;
    }
    if (this.#recent.size >= MAX_KEYS) this.#recent.clear();
    this.#recent.set(key, { atMs: nowMs, unrecorded: 0 });
    return 1 + (last?.unrecorded ?? 0);
  }
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return -1;
  }
}
