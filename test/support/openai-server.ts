/**
 * A local server that speaks enough of the OpenAI HTTP API for the real
 * `openai` / `@langchain/openai` clients to run against it:
 * `POST /v1/chat/completions` (plain JSON, or server-sent events with
 * `stream: true`, ending in `data: [DONE]` and, when
 * `stream_options.include_usage` is set, a last chunk with `usage`) and
 * `POST /v1/embeddings` (deterministic vectors, float or base64).
 *
 * Tests script it: a responder turns the request's messages into the answer
 * text, faults (an HTTP status, a hang, a stream that stalls) can be injected for the next requests
 * or for all of them, and every request is recorded with what the server
 * answered, so a test can count calls and tokens and read the exact body the
 * client sent. It checks `Authorization: Bearer <key>` and validates bodies
 * the way the real API does (400 with an `error` object).
 *
 * Token counts are its own (cl100k_base over the message contents), kept apart
 * from the code under test so a counting bug there cannot hide behind the
 * same bug here.
 */
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getEncoding } from 'js-tiktoken';

const encoder = getEncoding('cl100k_base');

/** One chat message as the client sent it (content flattened to text). */
export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

/** What a responder sees of a chat completion request. */
export interface ChatRequest {
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly stream: boolean;
  /** Index of this request among all the server received (0-based). */
  readonly index: number;
  readonly body: Readonly<Record<string, unknown>>;
}

/** Turns a request into the assistant's answer text. */
export type Responder = (request: ChatRequest) => string | Promise<string>;

/** Token counts the server reports (or would have reported) for one answer. */
export interface ServerUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

/**
 * How the server reports usage: `'tokenizer'` counts with cl100k_base,
 * `'omit'` leaves `usage` out (as some OpenAI-compatible servers do), a
 * function decides the numbers itself.
 */
export type UsageMode = 'tokenizer' | 'omit' | ((request: ChatRequest, answer: string) => ServerUsage);

/**
 * A failure to inject: an HTTP error status with an OpenAI-style error body,
 * or a request that is read and then never answered (a timeout for the client).
 */
export type Fault =
  | { readonly kind: 'status'; readonly status: number; readonly message?: string }
  | { readonly kind: 'hang' }
  /** Streams the first `afterTokens` tokens of the answer, then goes silent (a stream that stalls midway). */
  | { readonly kind: 'stall'; readonly afterTokens: number };

/** One request the server received, and how it answered. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  /** The parsed JSON body, or undefined when it was not JSON. */
  readonly body: Record<string, unknown> | undefined;
  readonly rawBody: string;
  /** The status sent, or undefined for a hung request. */
  status: number | undefined;
  /** For chat completions: the answer text, and the usage computed for it (reported or not). */
  answer?: string;
  usage?: ServerUsage;
  usageReported?: boolean;
}

export interface OpenAiServerOptions {
  /** The only key accepted in `Authorization: Bearer`. @default 'sk-test' */
  readonly apiKey?: string;
  /** @default a responder answering `{}` */
  readonly responder?: Responder;
  /** @default 'tokenizer' */
  readonly usage?: UsageMode;
  /** Default embedding size when the request names no `dimensions`. @default 64 */
  readonly dimensions?: number;
}

export interface OpenAiServer {
  /** Base URL including `/v1`, as `configuration.baseURL` wants it. */
  readonly baseUrl: string;
  readonly apiKey: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** Chat completion requests only (the ones a model call costs). */
  chatRequests(): RecordedRequest[];
  setResponder(responder: Responder): void;
  setUsage(mode: UsageMode): void;
  /** Fails the next `times` requests with `fault`, before any `failAll` fault. */
  failNext(fault: Fault, times?: number): void;
  /** Fails every request with `fault` until called with undefined. */
  failAll(fault: Fault | undefined): void;
  /** Back to the state it started in: no recorded requests, no faults, the responder and usage mode of the options. */
  reset(): void;
  close(): Promise<void>;
}

class BadRequest extends Error {
  readonly param: string | null;
  constructor(message: string, param: string | null) {
    super(message);
    this.param = param;
  }
}

export async function startOpenAiServer(options: OpenAiServerOptions = {}): Promise<OpenAiServer> {
  const apiKey = options.apiKey ?? 'sk-test';
  const dimensions = options.dimensions ?? 64;
  let responder: Responder = options.responder ?? (() => '{}');
  let usageMode: UsageMode = options.usage ?? 'tokenizer';
  let queued: Fault[] = [];
  let always: Fault | undefined;
  const requests: RecordedRequest[] = [];
  let chatIndex = 0;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, unknown> | undefined;
      try {
        const parsed: unknown = JSON.parse(rawBody);
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
          body = parsed as Record<string, unknown>;
      } catch {
        body = undefined;
      }
      const record: RecordedRequest = {
        method: req.method ?? '',
        path: (req.url ?? '').split('?')[0] ?? '',
        authorization: req.headers.authorization,
        body,
        rawBody,
        status: undefined,
      };
      requests.push(record);
      handle(record, res).catch((err: unknown) => {
        if (!res.headersSent) sendError(res, record, 500, 'server_error', String(err), null);
        else res.destroy();
      });
    });
  });

  async function handle(record: RecordedRequest, res: http.ServerResponse): Promise<void> {
    if (record.authorization !== `Bearer ${apiKey}`) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      sendError(
        res,
        record,
        401,
        'invalid_request_error',
        'Incorrect API key provided.',
        null,
        'invalid_api_key',
      );
      return;
    }
    const route = record.path.replace(/\/+$/, '');
    if (route !== '/v1/chat/completions' && route !== '/v1/embeddings') {
      sendError(res, record, 404, 'invalid_request_error', `Unknown request URL: ${record.path}`, null);
      return;
    }
    if (record.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      sendError(res, record, 405, 'invalid_request_error', `Method ${record.method} not allowed`, null);
      return;
    }
    const fault = queued.shift() ?? always;
    if (fault?.kind === 'hang') return; // read, never answered; close() cuts the socket
    if (fault?.kind === 'status') {
      const type = fault.status === 429 ? 'rate_limit_exceeded' : 'server_error';
      if (fault.status === 429) res.setHeader('Retry-After', '0');
      sendError(res, record, fault.status, type, fault.message ?? `injected ${fault.status}`, null);
      return;
    }
    if (record.body === undefined) {
      sendError(
        res,
        record,
        400,
        'invalid_request_error',
        'We could not parse the JSON body of your request.',
        null,
      );
      return;
    }
    try {
      if (route === '/v1/embeddings') embeddings(record, record.body, res);
      else await chat(record, record.body, res, fault?.kind === 'stall' ? fault.afterTokens : undefined);
    } catch (err) {
      if (!(err instanceof BadRequest)) throw err;
      sendError(res, record, 400, 'invalid_request_error', err.message, err.param);
    }
  }

  async function chat(
    record: RecordedRequest,
    body: Record<string, unknown>,
    res: http.ServerResponse,
    stallAfter: number | undefined,
  ) {
    const model = body['model'];
    if (typeof model !== 'string' || model === '')
      throw new BadRequest('you must provide a model parameter', 'model');
    const messages = parseMessages(body['messages']);
    const stream = body['stream'] === true;
    const request: ChatRequest = { model, messages, stream, index: chatIndex++, body };
    const answer = await responder(request);
    const usage = usageFor(request, answer);
    record.answer = answer;
    record.usage = usage;
    record.usageReported = usageMode !== 'omit';
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const usageBody = {
      prompt_tokens: usage.promptTokens,
      completion_tokens: usage.completionTokens,
      total_tokens: usage.promptTokens + usage.completionTokens,
    };
    if (!stream) {
      record.status = 200;
      sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: answer, refusal: null },
            logprobs: null,
            finish_reason: 'stop',
          },
        ],
        ...(record.usageReported ? { usage: usageBody } : {}),
      });
      return;
    }
    const streamOptions = body['stream_options'];
    const includeUsage =
      record.usageReported &&
      streamOptions !== null &&
      typeof streamOptions === 'object' &&
      (streamOptions as Record<string, unknown>)['include_usage'] === true;
    record.usageReported = includeUsage;
    record.status = 200;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
    });
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`;
    res.write(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
    // One chunk per token, as a real server streams them.
    const tokens = encoder.encode(answer);
    for (const [i, token] of tokens.entries()) {
      if (i === stallAfter) return; // silent from here; close() cuts the socket
      res.write(chunk([{ index: 0, delta: { content: encoder.decode([token]) }, finish_reason: null }]));
    }
    res.write(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
    if (includeUsage) res.write(chunk([], { usage: usageBody }));
    res.end('data: [DONE]\n\n');
  }

  function embeddings(record: RecordedRequest, body: Record<string, unknown>, res: http.ServerResponse) {
    const model = body['model'];
    if (typeof model !== 'string' || model === '')
      throw new BadRequest('you must provide a model parameter', 'model');
    const inputs = parseEmbeddingInput(body['input']);
    const dims = body['dimensions'] === undefined ? dimensions : body['dimensions'];
    if (typeof dims !== 'number' || !Number.isInteger(dims) || dims < 1 || dims > 4096)
      throw new BadRequest('dimensions must be an integer between 1 and 4096', 'dimensions');
    const format = body['encoding_format'] ?? 'float';
    if (format !== 'float' && format !== 'base64')
      throw new BadRequest("encoding_format must be 'float' or 'base64'", 'encoding_format');
    let tokens = 0;
    const data = inputs.map((text, index) => {
      tokens += encoder.encode(text).length;
      const vector = embed(text, dims);
      const embedding =
        format === 'base64' ? Buffer.from(vector.buffer).toString('base64') : Array.from(vector);
      return { object: 'embedding', index, embedding };
    });
    record.usage = { promptTokens: tokens, completionTokens: 0 };
    record.status = 200;
    sendJson(res, 200, {
      object: 'list',
      data,
      model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  }

  function usageFor(request: ChatRequest, answer: string): ServerUsage {
    if (typeof usageMode === 'function') return usageMode(request, answer);
    // OpenAI's documented accounting: 3 tokens per message, 3 to prime the reply.
    let prompt = 3;
    for (const m of request.messages)
      prompt += 3 + encoder.encode(m.content).length + encoder.encode(m.role).length;
    return { promptTokens: prompt, completionTokens: encoder.encode(answer).length };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    apiKey,
    requests,
    chatRequests: () => requests.filter((r) => r.path.startsWith('/v1/chat/completions')),
    setResponder(r) {
      responder = r;
    },
    setUsage(mode) {
      usageMode = mode;
    },
    failNext(fault, times = 1) {
      for (let i = 0; i < times; i++) queued.push(fault);
    },
    failAll(fault) {
      always = fault;
    },
    reset() {
      responder = options.responder ?? (() => '{}');
      usageMode = options.usage ?? 'tokenizer';
      requests.length = 0;
      queued = [];
      always = undefined;
      chatIndex = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function parseMessages(value: unknown): ChatMessage[] {
  if (!Array.isArray(value)) throw new BadRequest("'messages' is a required property", 'messages');
  if (value.length === 0) throw new BadRequest("Invalid 'messages': empty array.", 'messages');
  return value.map((m: unknown, i) => {
    if (m === null || typeof m !== 'object')
      throw new BadRequest(`Invalid 'messages[${i}]'`, `messages[${i}]`);
    const { role, content } = m as Record<string, unknown>;
    if (!['system', 'developer', 'user', 'assistant', 'tool'].includes(String(role)))
      throw new BadRequest(`Invalid value for 'messages[${i}].role'`, `messages[${i}].role`);
    return { role: String(role), content: contentText(content, i) };
  });
}

function contentText(content: unknown, i: number): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  if (Array.isArray(content)) {
    return content
      .map((part: unknown) => {
        const p = part as Record<string, unknown> | null;
        if (p?.['type'] === 'text' && typeof p['text'] === 'string') return p['text'];
        throw new BadRequest(`Invalid content part in 'messages[${i}].content'`, `messages[${i}].content`);
      })
      .join('');
  }
  throw new BadRequest(`Invalid type for 'messages[${i}].content'`, `messages[${i}].content`);
}

function parseEmbeddingInput(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.length > 0) {
    if (value.every((v) => typeof v === 'string')) return value;
    // Token arrays: one array of ints, or an array of them.
    if (value.every((v) => typeof v === 'number')) return [encoder.decode(value)];
    if (value.every((v) => Array.isArray(v) && v.every((t) => typeof t === 'number')))
      return value.map((v: number[]) => encoder.decode(v));
  }
  throw new BadRequest("'input' must be a string, an array of strings or of token arrays", 'input');
}

/**
 * A unit vector from hashed words: the same text always gives the same vector
 * and texts sharing words point the same way, so a semantic cache finds
 * near-duplicates as it would with a real model.
 */
function embed(text: string, dims: number): Float32Array {
  const v = new Float32Array(dims);
  const words = text.toLowerCase().match(/[a-z0-9_]+/g) ?? [''];
  for (const w of words) {
    const h = createHash('sha256').update(w).digest();
    v[h.readUInt32LE(0) % dims]! += h[4]! & 1 ? 1 : -1;
  }
  let norm = Math.hypot(...v);
  if (norm === 0) {
    v[0] = 1;
    norm = 1;
  }
  for (let i = 0; i < dims; i++) v[i]! /= norm;
  return v;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(
  res: http.ServerResponse,
  record: RecordedRequest,
  status: number,
  type: string,
  message: string,
  param: string | null,
  code: string | null = null,
): void {
  record.status = status;
  sendJson(res, status, { error: { message, type, param, code } });
}
