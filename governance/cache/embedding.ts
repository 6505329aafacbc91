/**
 * Embedders turn normalised evidence text into unit vectors whose cosine says
 * how alike two incidents are. The local one needs no network and is the
 * default; the OpenAI-compatible one is used when an embeddings endpoint is
 * configured. Vectors from different embedders are never compared: each
 * embedder's `id` partitions the cache.
 */
import { z } from 'zod';
import { hash32 } from '../../choreography/index.ts';
import { CacheConfigError, EmbeddingError } from './errors.ts';

/** Something that embeds texts; every vector it returns has unit length and the same dimension. */
export interface Embedder {
  /** Stable name of the vector space (model and dimension): entries of another id are never compared. */
  readonly id: string;
  embed(texts: string[]): Promise<Float32Array[]>;
}

/** Longest text the local embedder reads, in characters; the rest is ignored so any input stays cheap. */
export const LOCAL_MAX_CHARS = 20_000;

const WEIGHT_UNIGRAM = 1;
const WEIGHT_BIGRAM = 0.8;
/** A word of n letters gives n trigrams, so each one weighs little: together they catch spelling variants. */
const WEIGHT_TRIGRAM = 0.25;

function addFeature(v: Float32Array, feature: string, weight: number): void {
  const h = hash32(feature);
  // A second, independent bit for the sign, so collisions cancel out on average instead of adding up.
  const sign = (hash32(`±${feature}`) & 1) === 0 ? 1 : -1;
  const i = h % v.length;
  v[i] = v[i]! + sign * weight;
}

/** L2-normalises in place; a zero vector becomes the unit vector of the empty-text feature. */
function normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (const x of v) sum += x * x;
  if (!(sum > 0) || !Number.isFinite(sum)) {
    v.fill(0);
    addFeature(v, '\u2205', 1);
    sum = 1;
  }
  const n = Math.sqrt(sum);
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / n;
  return v;
}

/**
 * Feature-hashing embedding of a text: word unigrams and bigrams (bigrams
 * within one line only) and character trigrams of each word, hashed with a
 * sign into `dimensions` buckets and L2-normalised. Deterministic across
 * processes and releases; never throws.
 */
export function embedLocal(text: string, dimensions = 384): Float32Array {
  const v = new Float32Array(dimensions);
  for (const line of text.slice(0, LOCAL_MAX_CHARS).toLowerCase().split('\n')) {
    const words = line.split(/[^\p{L}\p{N}_-]+/u).filter((w) => w.length > 0);
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      addFeature(v, `w:${w}`, WEIGHT_UNIGRAM);
      if (i > 0) addFeature(v, `b:${words[i - 1]}|${w}`, WEIGHT_BIGRAM);
      const padded = `#${w}#`;
      for (let j = 0; j + 3 <= padded.length; j++)
        addFeature(v, `c:${padded.slice(j, j + 3)}`, WEIGHT_TRIGRAM);
    }
  }
  return normalise(v);
}

/** Cosine similarity of two vectors; 0 when their dimensions differ or either is zero. */
export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length || a.length === 0) return 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (na === 0 || nb === 0) return 0;
  return dot / Math.sqrt(na * nb);
}

function configError(what: string, error: z.ZodError): CacheConfigError {
  const detail = error.issues
    .map((i) => `${[what, ...i.path.map(String)].join('.')}: ${i.message}`)
    .join('; ');
  return new CacheConfigError(`invalid ${what}: ${detail}`, { cause: error });
}

const LocalOptions = z.object({ dimensions: z.number().int().min(64).max(4096).default(384) }).strict();

/** Options of {@link LocalEmbedder}. */
export interface LocalEmbedderOptions {
  /** Vector dimension. @default 384 */
  readonly dimensions?: number;
}

/** The network-free embedder (see {@link embedLocal}). */
export class LocalEmbedder implements Embedder {
  readonly id: string;
  readonly dimensions: number;
  constructor(options: LocalEmbedderOptions = {}) {
    const parsed = LocalOptions.safeParse(options);
    if (!parsed.success) throw configError('localEmbedder', parsed.error);
    this.dimensions = parsed.data.dimensions;
    this.id = `local-hash-v1/${this.dimensions}`;
  }
  async embed(texts: string[]): Promise<Float32Array[]> {
    return texts.map((t) => embedLocal(t, this.dimensions));
  }
}

const OpenAIOptions = z
  .object({
    baseURL: z.string().refine((v) => URL.canParse(v), { message: 'must be a URL' }),
    model: z.string().min(1).max(256),
    apiKey: z.string().min(1).optional(),
    timeoutMs: z.number().int().min(100).max(600_000).default(10_000),
    dimensions: z.number().int().min(1).max(65_536).optional(),
    fetch: z.custom<typeof fetch>((f) => typeof f === 'function').optional(),
  })
  .strict();

/** Options of {@link OpenAIEmbedder}. */
export interface OpenAIEmbedderOptions {
  /** Base URL up to and including the API version, e.g. `https://api.openai.com/v1` or `http://ollama:11434/v1`. */
  readonly baseURL: string;
  readonly model: string;
  /** Sent as a bearer token when given (local servers usually need none). */
  readonly apiKey?: string;
  /** Whole-request timeout in ms. @default 10000 */
  readonly timeoutMs?: number;
  /** Asks the endpoint for vectors of this size (models that support it). */
  readonly dimensions?: number;
  /** For tests. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

const EmbeddingsResponse = z.object({
  data: z
    .array(z.object({ index: z.number().int().nonnegative(), embedding: z.array(z.number()).min(1) }))
    .min(1),
});

/** An OpenAI-compatible `POST {baseURL}/embeddings` client over plain fetch. */
export class OpenAIEmbedder implements Embedder {
  readonly id: string;
  readonly #url: string;
  readonly #model: string;
  readonly #apiKey: string | undefined;
  readonly #timeoutMs: number;
  readonly #dimensions: number | undefined;
  readonly #fetch: typeof fetch;

  constructor(options: OpenAIEmbedderOptions) {
    const parsed = OpenAIOptions.safeParse(options);
    if (!parsed.success) throw configError('openAIEmbedder', parsed.error);
    const o = parsed.data;
    this.#url = new URL('embeddings', o.baseURL.endsWith('/') ? o.baseURL : `${o.baseURL}/`).toString();
    this.#model = o.model;
    this.#apiKey = o.apiKey;
    this.#timeoutMs = o.timeoutMs;
    this.#dimensions = o.dimensions;
    this.#fetch = o.fetch ?? globalThis.fetch;
    this.id = `openai/${o.model}${o.dimensions === undefined ? '' : `/${o.dimensions}`}@${new URL(o.baseURL).host}`;
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.#apiKey !== undefined) headers.authorization = `Bearer ${this.#apiKey}`;
    let res: Response;
    try {
      res = await this.#fetch(this.#url, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          model: this.#model,
          input: texts,
          ...(this.#dimensions === undefined ? {} : { dimensions: this.#dimensions }),
        }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new EmbeddingError(`embeddings request to ${this.#url} failed`, { cause: err, retryable: true });
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new EmbeddingError(`embeddings endpoint answered HTTP ${res.status}`, {
        retryable: res.status === 429 || res.status >= 500,
      });
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch (err) {
      throw new EmbeddingError('embeddings endpoint answered something that is not JSON', { cause: err });
    }
    const parsed = EmbeddingsResponse.safeParse(body);
    if (!parsed.success)
      throw new EmbeddingError('embeddings response has no embedding list', { cause: parsed.error });
    const byIndex = new Map(parsed.data.data.map((d) => [d.index, d.embedding]));
    const out: Float32Array[] = [];
    let dim: number | undefined;
    for (let i = 0; i < texts.length; i++) {
      const e = byIndex.get(i);
      if (e === undefined) throw new EmbeddingError(`embeddings response lacks input ${i}`);
      if (dim !== undefined && e.length !== dim)
        throw new EmbeddingError('embeddings response mixes dimensions');
      dim = e.length;
      const v = Float32Array.from(e);
      let sum = 0;
      for (const x of v) sum += x * x;
      if (!(sum > 0) || !Number.isFinite(sum))
        throw new EmbeddingError(`embedding ${i} is zero or not finite`);
      out.push(normalise(v));
    }
    return out;
  }
}
