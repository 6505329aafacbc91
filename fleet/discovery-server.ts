/**
 * The controller's HTTP endpoint on 127.0.0.1 (port picked by the kernel):
 * `GET /targets` lists every replica for the collector to scrape and follow
 * (the same JSON as `FleetHandle.targets()`), `GET /changes` the change
 * record, `GET /metrics` what an orchestrator would publish about its pods
 * (replicas wanted and up, restarts). When given an action API, the same
 * endpoint also serves `POST /v1/actions` and `GET /v1/services` (see
 * action-api.ts).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { ActionApi } from './action-api.ts';
import type { ChangeEvent } from './changes.ts';
import { sendJson, sendProblem } from './http.ts';
import type { FleetTarget } from './targets.ts';

/** What the endpoint serves. */
export interface DiscoverySources {
  readonly targets: () => readonly FleetTarget[];
  readonly changes: () => readonly ChangeEvent[];
  readonly registry: Registry;
  /** The remediation API, served next to discovery. */
  readonly actions?: ActionApi;
}

/** A listening discovery endpoint. */
export interface DiscoveryServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

export async function startDiscoveryServer(src: DiscoverySources): Promise<DiscoveryServer> {
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://controller').pathname;
    if (src.actions?.route(req, res, path)) return;
    if (req.method !== 'GET') return sendProblem(res, 405, 'Method Not Allowed');
    if (path === '/targets') return sendJson(res, 200, src.targets());
    if (path === '/changes') return sendJson(res, 200, src.changes());
    if (path === '/metrics') {
      src.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': src.registry.contentType });
          res.end(text);
        },
        () => sendProblem(res, 500, 'Internal Server Error'),
      );
      return;
    }
    sendProblem(res, 404, 'Not Found');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
