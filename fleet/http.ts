/**
 * The little HTTP the fleet speaks, on node:http: JSON in and out, and every
 * failure as an `application/problem+json` body with a precise status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A request body larger than this is refused (413). */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;

/** A request the fleet refuses, with the status it answers. */
export class HttpProblem extends Error {
  readonly status: number;
  constructor(status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'HttpProblem';
    this.status = status;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** An RFC 9457 problem body; `detail` is for the caller, so it never carries an internal error. */
export function sendProblem(res: ServerResponse, status: number, title: string, detail?: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify({
    type: 'about:blank',
    title,
    status,
    ...(detail === undefined ? {} : { detail }),
  });
  res.writeHead(status, {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status = 204): void {
  res.writeHead(status);
  res.end();
}

/** The body parsed as JSON; 413 past {@link MAX_BODY_BYTES}, 400 when it is not JSON. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    if (total > MAX_BODY_BYTES) throw new HttpProblem(413, `body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new HttpProblem(400, 'body is not JSON', { cause: err });
  }
}
