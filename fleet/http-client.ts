/**
 * `GET` over a keep-alive agent, bounded by a deadline, the body read and
 * dropped: how a replica calls a dependency and how the load generator calls
 * the entry service. The caller (pool, load generator) bounds concurrency,
 * never the agent.
 */
import http from 'node:http';

/** How one HTTP call ended. */
export type CallResult =
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'unreachable'; readonly error: string };

export class HttpClient {
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

  /** `GET url`, given up after `timeoutMs`. Never rejects. */
  get(url: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<CallResult> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (r: CallResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const req = http.get(url, { agent: this.#agent, headers }, (res) => {
        res.resume();
        res.on('end', () => done({ kind: 'status', status: res.statusCode ?? 0 }));
        res.on('error', (err) => done({ kind: 'unreachable', error: err.message }));
      });
      const timer = setTimeout(() => {
        done({ kind: 'timeout' });
        req.destroy();
      }, timeoutMs);
      req.on('error', (err) => done({ kind: 'unreachable', error: err.message }));
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
