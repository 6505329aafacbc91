/**
 * "Does it answer?" for each protocol, asked the cheapest way that still
 * proves the server does its job. A probe never throws: any failure, refusal
 * or timeout is simply `false`, because a caller polls until it is `true`.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import pg from 'pg';

/** How long one probe may take before it counts as "not answering". @default 2000 */
export const probeTimeoutMs = 2000;

/** A finished HTTP exchange. */
export interface HttpReply {
  readonly status: number;
  readonly body: string;
}

/**
 * GET without keep-alive: a pooled socket (as `fetch` keeps) would hold the
 * event loop open for seconds after a CLI or test is done.
 */
export function httpGet(url: string, timeoutMs: number = probeTimeoutMs): Promise<HttpReply | undefined> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    const req = get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 65536) body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/**
 * Reads from a fresh TCP connection until `done` accepts what arrived. The
 * socket is always destroyed, so a probe leaves nothing open.
 */
function converse(
  host: string,
  port: number,
  send: string | undefined,
  done: (received: string) => boolean | undefined,
  timeoutMs: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    let received = '';
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(ok);
    };
    const socket = net.connect({ host, port });
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
    socket.on('connect', () => {
      if (send !== undefined) socket.write(send);
    });
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
      const verdict = done(received);
      if (verdict !== undefined) finish(verdict);
    });
  });
}

/** Encodes one command in RESP, Redis's wire format (an array of bulk strings). */
function resp(...words: string[]): string {
  return `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`;
}

/**
 * Sends `PING` (after `AUTH` when the URL carries a password) and expects
 * `+PONG`. An error reply such as `-NOAUTH` or `-LOADING` counts as not
 * answering: a client could not work with that server yet.
 */
export function redisAnswers(url: string, timeoutMs: number = probeTimeoutMs): Promise<boolean> {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  const user = decodeURIComponent(parsed.username);
  const auth = password === '' ? '' : user === '' ? resp('AUTH', password) : resp('AUTH', user, password);
  const expected = (auth === '' ? '' : '+OK\r\n') + '+PONG\r\n';
  return converse(
    hostOf(parsed),
    Number(parsed.port || 6379),
    auth + resp('PING'),
    (received) => {
      if (/(^|\r\n)-/.test(received)) return false;
      if (received.length < expected.length) return undefined;
      return received.startsWith(expected);
    },
    timeoutMs,
  );
}

/**
 * A NATS server greets every connection with `INFO {...}` before any auth, so
 * seeing it proves a NATS server (and not some other program) holds the port.
 */
export function natsGreets(url: string, timeoutMs: number = probeTimeoutMs): Promise<boolean> {
  const parsed = new URL(url);
  return converse(
    hostOf(parsed),
    Number(parsed.port || 4222),
    undefined,
    (received) => {
      if (!received.includes('\r\n')) return undefined;
      return received.startsWith('INFO {');
    },
    timeoutMs,
  );
}

/** NATS's health endpoint; it fails while JetStream is not yet usable. */
export async function natsHealthy(monitorUrl: string, timeoutMs: number = probeTimeoutMs): Promise<boolean> {
  const reply = await httpGet(`${monitorUrl}/healthz?js-enabled-only=true`, timeoutMs);
  return reply?.status === 200;
}

/** etcd's `/health`, which reports `"true"` only once the member has a leader. */
export async function etcdHealthy(url: string, timeoutMs: number = probeTimeoutMs): Promise<boolean> {
  const reply = await httpGet(`${url.replace(/\/+$/, '')}/health`, timeoutMs);
  if (reply?.status !== 200) return false;
  try {
    return (JSON.parse(reply.body) as { health?: unknown }).health === 'true';
  } catch {
    return false;
  }
}

/** Connects with `pg` and runs `SELECT 1`: the login, database and executor all work. */
export async function postgresAnswers(url: string, timeoutMs: number = probeTimeoutMs): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  // A connection that dies after connect emits 'error'; unhandled, that would crash the process.
  client.on('error', () => {});
  try {
    await client.connect();
    const result = await client.query<{ one: number }>('SELECT 1 AS one');
    return result.rows[0]?.one === 1;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** `new URL` keeps IPv6 hosts bracketed; sockets want them bare. */
function hostOf(parsed: URL): string {
  return parsed.hostname.replace(/^\[(.*)\]$/, '$1');
}
