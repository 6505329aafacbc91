/**
 * A Server-Sent Events client for tests: `fetch` with a streaming body and a
 * parser that follows the WHATWG event-stream rules (fields `id`, `event`,
 * `data`, `retry`; comment lines; CRLF, LF or CR line ends; frames split
 * anywhere across chunks). It keeps every message and comment it reads, and
 * lets a test await a condition on them instead of sleeping.
 */

/** One dispatched event. */
export interface SseMessage {
  /** The `id:` field of this frame, when it had one. */
  readonly id?: string;
  /** The `event:` field, `message` when absent. */
  readonly event: string;
  readonly data: string;
}

/** Incremental parser: feed it text, get the complete messages. */
export class SseParser {
  #buffer = '';
  #data: string[] = [];
  #event = '';
  #id: string | undefined;
  #hasId = false;
  /** Comment lines seen (without the leading colon). */
  readonly comments: string[] = [];
  /** The last `retry:` value, in ms. */
  retryMs: number | undefined;

  push(text: string): SseMessage[] {
    this.#buffer += text;
    const out: SseMessage[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.#buffer);
      if (m === null) break;
      // A lone CR at the very end may be the first half of CRLF: wait for more.
      if (m[0] === '\r' && m.index === this.#buffer.length - 1) break;
      const line = this.#buffer.slice(0, m.index);
      this.#buffer = this.#buffer.slice(m.index + m[0].length);
      const msg = this.#line(line);
      if (msg !== undefined) out.push(msg);
    }
    return out;
  }

  #line(line: string): SseMessage | undefined {
    if (line === '') {
      if (this.#data.length === 0) {
        this.#event = '';
        this.#hasId = false;
        return undefined;
      }
      const msg: SseMessage = {
        ...(this.#hasId && this.#id !== undefined ? { id: this.#id } : {}),
        event: this.#event === '' ? 'message' : this.#event,
        data: this.#data.join('\n'),
      };
      this.#data = [];
      this.#event = '';
      this.#hasId = false;
      return msg;
    }
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1).trimStart());
      return undefined;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.#data.push(value);
        break;
      case 'event':
        this.#event = value;
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.#id = value;
          this.#hasId = true;
        }
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break;
    }
    return undefined;
  }
}

/** An open stream (or a refused request: then `status` is not 200 and `problem` holds the body). */
export interface SseConnection {
  readonly status: number;
  readonly headers: Headers;
  /** The JSON body of a refused request. */
  readonly problem?: Record<string, unknown>;
  /** Every message read so far, in order. */
  readonly messages: readonly SseMessage[];
  readonly parser: SseParser;
  /** Resolves when the server ends the stream or the connection fails. */
  readonly ended: Promise<void>;
  /** Resolves once `probe(messages)` holds; rejects after `timeoutMs` or when the stream ends first. */
  until(
    probe: (messages: readonly SseMessage[]) => boolean,
    timeoutMs?: number,
    what?: string,
  ): Promise<void>;
  /** Closes the connection from the client side. */
  close(): void;
}

export interface OpenSseOptions {
  readonly headers?: Record<string, string>;
  /** Sent as `Last-Event-ID`. */
  readonly lastEventId?: string;
}

export async function openSse(url: string, options: OpenSseOptions = {}): Promise<SseConnection> {
  const abort = new AbortController();
  const res = await fetch(url, {
    headers: {
      accept: 'text/event-stream',
      ...(options.lastEventId === undefined ? {} : { 'last-event-id': options.lastEventId }),
      ...options.headers,
    },
    signal: abort.signal,
  });
  const parser = new SseParser();
  const messages: SseMessage[] = [];
  const waiters = new Set<() => void>();
  let done = false;
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  if (res.status !== 200 || res.body === null) {
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      problem: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
      messages,
      parser,
      ended: Promise.resolve(),
      until: () => Promise.reject(new Error(`request refused with ${res.status}`)),
      close: () => abort.abort(),
    };
  }
  const body = res.body.pipeThrough(new TextDecoderStream());
  const ended = (async () => {
    try {
      for await (const text of body) {
        const got = parser.push(text);
        if (got.length > 0) messages.push(...got);
        notify();
      }
    } catch {
      // Aborted by close() or cut by the server: either way, the stream ended.
    } finally {
      done = true;
      notify();
    }
  })();
  return {
    status: res.status,
    headers: res.headers,
    messages,
    parser,
    ended,
    until(probe, timeoutMs = 15_000, what = 'messages') {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (probe(messages)) finish(undefined);
          else if (done) finish(new Error(`stream ended before ${what} (${messages.length} messages)`));
        };
        const timer = setTimeout(
          () =>
            finish(
              new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${messages.length} messages)`),
            ),
          timeoutMs,
        );
        const finish = (err: Error | undefined) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (err) reject(err);
          else resolve();
        };
        waiters.add(check);
        check();
      });
    },
    close: () => abort.abort(),
  };
}
