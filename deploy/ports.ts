/**
 * Where each private server listens. Every port is read from the server's URL
 * in the config, so a test (or a second stack on one machine) moves a server by
 * changing one URL; helper ports (NATS monitoring, etcd peers) keep the same
 * offset from it that {@link defaultPorts} uses.
 */
import net from 'node:net';
import { defaultPorts } from '../config/index.ts';
import { StackError, StackErrorCode } from './errors.ts';

/** Ports a URL scheme implies when the URL names none. */
const schemePorts: Readonly<Record<string, number>> = {
  'nats:': 4222,
  'tls:': 4222,
  'redis:': 6379,
  'rediss:': 6379,
  'postgres:': 5432,
  'postgresql:': 5432,
  'http:': 80,
  'https:': 443,
};

/** The TCP port a server URL points at, falling back to its scheme's standard port. */
export function portOf(url: string): number {
  const parsed = new URL(url);
  if (parsed.port !== '') return Number(parsed.port);
  const port = schemePorts[parsed.protocol];
  if (port === undefined) {
    throw new StackError(
      StackErrorCode.BAD_URL,
      `cannot tell the port of ${redact(url)}: unknown scheme ${parsed.protocol}`,
    );
  }
  return port;
}

/** NATS monitoring sits at a fixed offset from the client port (14222 → 18222). */
export function natsMonitorPort(natsPort: number): number {
  return checked(natsPort + (defaultPorts.natsMonitor - defaultPorts.nats), 'NATS monitoring');
}

/** etcd's peer port sits next to its client port (12379 → 12380). */
export function etcdPeerPort(clientPort: number): number {
  return checked(clientPort + (defaultPorts.etcdPeer - defaultPorts.etcdClient), 'etcd peer');
}

function checked(port: number, what: string): number {
  if (port > 65535) {
    throw new StackError(
      StackErrorCode.BAD_URL,
      `the ${what} port would be ${port}, beyond 65535: choose a lower port`,
    );
  }
  return port;
}

/**
 * Rejects a URL whose host is not loopback: a private server binds 127.0.0.1
 * only, so any other host would be a promise we cannot keep.
 */
export function assertLoopback(url: string, envVar: string): void {
  const host = new URL(url).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') {
    throw new StackError(
      StackErrorCode.BAD_URL,
      `${envVar}=${redact(url)} is not a loopback address, so the private stack cannot serve it; ` +
        `point it at 127.0.0.1 or treat that server as external`,
    );
  }
}

/**
 * Whether nothing listens on 127.0.0.1:`port`. Binding (rather than
 * connecting) also notices a listener on 0.0.0.0 that would steal our traffic.
 */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** The URL with any password replaced, fit for messages and logs. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparsable URL>';
  }
}
