/**
 * The stream bench's clients, in a process of their own (so their parsing
 * does not share an event loop with the gateway): `stream-clients.ts <url>
 * <authorization> <clients> <reconnecting clients> <reconnects each>`. Opens that many SSE connections (node:http: far cheaper per chunk than `fetch`, so the clients measure the gateway, not themselves), checks
 * every client's sequence (a gap or a duplicate is counted, never hidden),
 * keeps each event's receipt time (epoch ms, time origin + monotonic clock,
 * per chunk), reconnects some clients with `Last-Event-ID` while events flow,
 * and talks to the bench over IPC:
 *
 * - child → bench `{ type: 'ready' }` once every client is connected;
 * - bench → child `{ type: 'start', baseSeq, events, warmup, durationMs }`:
 *   the run's events are sequences `baseSeq + 1 …`, the first `warmup` of
 *   them are left out of the latencies, reconnections are spread over `durationMs`;
 * - bench → child `{ type: 'published', sentAt: number[] }`: the send time of
 *   each event by its index (sequence − baseSeq − 1); the child waits until every
 *   client has the last one, then replies `{ type: 'result', ... }`;
 * - `start` … `result` repeats once per run; bench → child `{ type: 'stop' }` ends it.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const [url = '', authorization = '', ...nums] = process.argv.slice(2);
const [clientCount = 1000, reconnecting = 0, reconnectsEach = 0] = nums.map(Number);
let baseSeq = 0;
let eventCount = 0;
let warmup = 0;
const OPEN_BATCH = 100;
const wall = () => performance.timeOrigin + performance.now();

interface Client {
  lastSeq: number;
  received: number;
  gaps: number;
  duplicates: number;
  reconnects: number;
  /** Streams the server ended (a failed replay, a cut): the client reconnects, as EventSource does. */
  serverEnded: number;
  overflows: number;
  /** Receipt time of each event of the run by index (NaN: not received). */
  at: Float64Array;
  request: http.ClientRequest | undefined;
  carry: string;
  /** Reconnections of one client run one after another. */
  chain: Promise<void>;
  stopped: boolean;
}

const clients: Client[] = [];
let waiting: (() => void) | undefined;
let complete = 0;
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

function event(c: Client, seq: number, now: number): void {
  // A live-only client starts wherever the hub is; from its first event on, every sequence counts.
  if (c.lastSeq === 0) c.lastSeq = seq;
  else if (seq <= c.lastSeq) c.duplicates++;
  else {
    c.gaps += seq - c.lastSeq - 1;
    c.lastSeq = seq;
  }
  c.received++;
  const i = seq - baseSeq - 1;
  if (i >= 0 && i < eventCount) {
    c.at[i] = now;
    if (i === eventCount - 1) {
      complete++;
      waiting?.();
    }
  }
}

/** Reads the frames of a chunk: only the `id:` line of each is looked at, the rest skipped. */
function chunk(c: Client, data: string): void {
  const now = wall();
  const text = c.carry === '' ? data : c.carry + data;
  let start = 0;
  for (;;) {
    const end = text.indexOf('\n\n', start);
    if (end === -1) break;
    if (text.startsWith('id: ', start))
      event(c, Number(text.slice(start + 4, text.indexOf('\n', start))), now);
    else if (text.startsWith('event: overflow', start)) c.overflows++;
    start = end + 2;
  }
  c.carry = start === text.length ? '' : text.slice(start);
}

/** Connects (resuming from the client's last sequence, if any); resolves once the response has started. */
function open(c: Client): Promise<void> {
  return new Promise((resolve, reject) => {
    c.carry = '';
    const req = http.get(
      url,
      {
        agent,
        headers: {
          authorization,
          accept: 'text/event-stream',
          ...(c.lastSeq > 0 ? { 'last-event-id': String(c.lastSeq) } : {}),
        },
      },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`stream refused: ${res.statusCode}`));
          res.resume();
          return;
        }
        res.setEncoding('latin1');
        res.on('data', (d: string) => chunk(c, d));
        res.on('end', () => {
          if (c.request !== req || c.stopped) return;
          c.serverEnded++;
          void reconnect(c);
        });
        res.on('error', () => undefined);
        resolve();
      },
    );
    req.on('error', reject);
    c.request = req;
  });
}

/** Drops the connection and resumes with Last-Event-ID (after any reconnection still running). */
function reconnect(c: Client): Promise<void> {
  c.chain = c.chain.then(async () => {
    c.request?.destroy();
    c.request = undefined;
    c.reconnects++;
    for (let attempt = 1; ; attempt++) {
      try {
        await open(c);
        return;
      } catch (err) {
        if (attempt === 3) {
          process.stderr.write(`[stream-clients] a reconnect failed: ${String(err)}\n`);
          return;
        }
      }
    }
  });
  return c.chain;
}

for (let i = 0; i < clientCount; i++)
  clients.push({
    lastSeq: 0,
    received: 0,
    gaps: 0,
    duplicates: 0,
    reconnects: 0,
    serverEnded: 0,
    overflows: 0,
    at: new Float64Array(0),
    request: undefined,
    carry: '',
    chain: Promise.resolve(),
    stopped: false,
  });
// In batches: the server's listen backlog is finite.
for (let i = 0; i < clients.length; i += OPEN_BATCH)
  await Promise.all(clients.slice(i, i + OPEN_BATCH).map(open));
process.send?.({ type: 'ready' });

const timers: NodeJS.Timeout[] = [];
let cpu0 = process.cpuUsage();
interface Message {
  readonly type: string;
  readonly baseSeq?: number;
  readonly events?: number;
  readonly warmup?: number;
  readonly durationMs?: number;
  readonly sentAt?: number[];
}

process.on('message', (m: Message) => {
  if (m.type === 'start') {
    baseSeq = m.baseSeq ?? 0;
    eventCount = m.events ?? 0;
    warmup = m.warmup ?? 0;
    // Each run counts afresh; a client's position (lastSeq) carries over.
    complete = 0;
    cpu0 = process.cpuUsage();
    for (const c of clients) {
      c.at = new Float64Array(eventCount).fill(NaN);
      c.received = c.gaps = c.duplicates = c.reconnects = c.serverEnded = c.overflows = 0;
    }
    const duration = m.durationMs ?? 0;
    // Every reconnecting client drops `reconnectsEach` times, spread over the run.
    for (let k = 0; k < reconnecting; k++) {
      const c = clients[Math.floor((k * clients.length) / Math.max(1, reconnecting))] as Client;
      for (let r = 1; r <= reconnectsEach; r++) {
        const at = (duration * (r - 0.5 + k / reconnecting)) / (reconnectsEach + 0.5);
        timers.push(setTimeout(() => void reconnect(c), at));
      }
    }
  } else if (m.type === 'published') void finish(m.sentAt ?? []);
  else if (m.type === 'stop') {
    for (const c of clients) {
      c.stopped = true;
      c.request?.destroy();
    }
    process.disconnect?.();
  }
});

async function finish(sentAt: number[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (complete < clients.length && Date.now() < deadline)
    await new Promise<void>((resolve) => {
      waiting = resolve;
      setTimeout(resolve, 500);
    });
  for (const t of timers) clearTimeout(t);
  timers.length = 0;
  const cpu = process.cpuUsage(cpu0);
  const latencies = new Float64Array(clients.length * eventCount);
  let n = 0;
  let missing = 0;
  let lastAt = 0;
  let delivered = 0;
  for (const c of clients)
    for (let i = 0; i < eventCount; i++) {
      const at = c.at[i] as number;
      if (Number.isNaN(at)) missing++;
      else {
        delivered++;
        if (i >= warmup) latencies[n++] = at - (sentAt[i] as number);
        if (at > lastAt) lastAt = at;
      }
    }
  const sorted = latencies.subarray(0, n).sort();
  const q = (p: number) => (n === 0 ? NaN : (sorted[Math.min(n - 1, Math.ceil(p * n) - 1)] as number));
  const sum = (f: (c: Client) => number) => clients.reduce((s, c) => s + f(c), 0);
  process.send?.({
    type: 'result',
    delivered,
    samples: n,
    missing,
    lastAt,
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    max: n === 0 ? NaN : (sorted[n - 1] as number),
    gaps: sum((c) => c.gaps),
    duplicates: sum((c) => c.duplicates),
    reconnects: sum((c) => c.reconnects),
    overflows: sum((c) => c.overflows),
    serverEnded: sum((c) => c.serverEnded),
    cpuS: (cpu.user + cpu.system) / 1e6,
    complete,
  });
}
