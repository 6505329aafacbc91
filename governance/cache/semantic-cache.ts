/**
 * Semantic cache of root-cause answers in Redis: when an incident recurs, the
 * analyst reuses the answer it paid for last time instead of asking the model
 * again.
 *
 * An entry is only ever compared with incidents of the same scope (same
 * service set, same fault signature, same polarity facts, same embedder; see
 * `normalise.ts`), passes the polarity guard again, and is a hit when the
 * cosine similarity of the evidence texts reaches the threshold.
 *
 * Keys, under `<namespace>:semcache:`:
 *
 * - `e:<entryId>`    hash: scope, guard, services, the vector (float32 bytes),
 *                    the answer (JSON), created time, hits. TTL.
 * - `s:<scopeId>`    zset of entry ids by creation time, trimmed to the newest
 *                    `maxEntriesPerScope`. TTL refreshed on store.
 * - `v:<service>`    set of entry ids whose service set holds the service,
 *                    for invalidation. TTL refreshed on store.
 * - `stats`          hash of counters (hits, misses, stores, evicted,
 *                    invalidated); the only key without a TTL.
 *
 * Lua scripts keep a store and an invalidation atomic. They build entry and
 * scope keys from a prefix, so this layout suits one Redis, not a Cluster.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { redisOptions } from '../redis-options.ts';
import { FaultKind } from '../../choreography/index.ts';
import { cosine, LocalEmbedder } from './embedding.ts';
import type { Embedder } from './embedding.ts';
import { CacheConfigError, CacheValueError } from './errors.ts';
import { normaliseEvidence } from './normalise.ts';
import type { CacheEvidence } from './normalise.ts';

/** A root-cause answer as the analyst concludes it. */
export interface RootCauseAnswer {
  readonly service: string;
  readonly kind: FaultKind;
  /** 0–1. */
  readonly confidence: number;
  readonly evidence: readonly string[];
}

/** What the cache keeps: the answer and what it cost to get it. */
export interface CachedAnswer {
  readonly answer: RootCauseAnswer;
  /** The model that produced the answer. */
  readonly model: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
}

/** An incident's cache key: computed once, used for a lookup and then, on a miss, to store. */
export interface CacheKey {
  readonly embedderId: string;
  /** Human-readable scope (services, fault signature, polarity facts). */
  readonly scope: string;
  /** Hash of embedder id and scope, used in Redis keys. */
  readonly scopeId: string;
  readonly services: readonly string[];
  /** Polarity facts, compared again on every candidate. */
  readonly guard: string;
  /** The normalised text that was embedded. */
  readonly text: string;
  readonly vector: Float32Array;
}

export type CacheLookup =
  | {
      readonly hit: true;
      readonly entryId: string;
      readonly similarity: number;
      readonly value: CachedAnswer;
      readonly key: CacheKey;
    }
  | {
      readonly hit: false;
      /** `empty-scope`: nothing cached for this scope; `below-threshold`: nothing similar enough. */
      readonly reason: 'empty-scope' | 'below-threshold';
      /** Best similarity among same-scope candidates, if any. */
      readonly bestSimilarity: number | null;
      readonly key: CacheKey;
    };

export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly stores: number;
  /** Entries pushed out by the per-scope bound. */
  readonly evicted: number;
  /** Entries dropped by {@link SemanticCache.invalidateServices}. */
  readonly invalidated: number;
}

/** Options of {@link SemanticCache}. */
export interface SemanticCacheOptions {
  readonly redis: Redis;
  /** Key prefix (the Sentinel namespace). */
  readonly namespace: string;
  /** @default a {@link LocalEmbedder} of 384 dimensions */
  readonly embedder?: Embedder;
  /**
   * Cosine similarity at or above which a same-scope entry answers. High,
   * because a wrong root cause costs more than the tokens it saves. @default 0.9
   */
  readonly threshold?: number;
  /** Lifetime of an entry in ms; a day, so answers track the system as it changes. @default 86400000 */
  readonly ttlMs?: number;
  /** Newest entries kept per scope (older ones are evicted), bounding memory and lookup cost. @default 32 */
  readonly maxEntriesPerScope?: number;
  /** Clock for creation times. @default Date.now */
  readonly now?: () => number;
}

const Options = z
  .object({
    ...redisOptions,
    embedder: z
      .custom<Embedder>(
        (e) => typeof e === 'object' && e !== null && typeof (e as Embedder).id === 'string' && 'embed' in e,
        { message: 'must be an Embedder' },
      )
      .optional(),
    threshold: z.number().gt(0).max(1).default(0.9),
    ttlMs: z
      .number()
      .int()
      .min(1000)
      .default(24 * 3600 * 1000),
    maxEntriesPerScope: z.number().int().min(1).max(1000).default(32),
    now: z.custom<() => number>((f) => typeof f === 'function', { message: 'must be a function' }).optional(),
  })
  .strict();

const Answer = z.object({
  service: z.string().min(1).max(63),
  kind: FaultKind,
  confidence: z.number().min(0).max(1),
  evidence: z.array(z.string().max(2048)).max(100),
});

const Cached = z.object({
  answer: Answer,
  model: z.string().min(1).max(256),
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
});

const STORE = `
local ttl = ARGV[1]
local id = ARGV[2]
local now = tonumber(ARGV[3])
-- Scores order entries by age: a store in the same millisecond as the newest still sorts after it.
local newest = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
if newest[2] and tonumber(newest[2]) >= now then now = tonumber(newest[2]) + 1 end
local max = tonumber(ARGV[4])
local entryPrefix = ARGV[5]
local nfields = tonumber(ARGV[6])
local fields = {}
for i = 1, nfields * 2 do fields[i] = ARGV[6 + i] end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[3], now, id)
redis.call('PEXPIRE', KEYS[3], ttl)
for i = 4, #KEYS do
  redis.call('SADD', KEYS[i], id)
  redis.call('PEXPIRE', KEYS[i], ttl)
end
local n = redis.call('ZCARD', KEYS[3])
local evicted = 0
if n > max then
  local old = redis.call('ZRANGE', KEYS[3], 0, n - max - 1)
  for _, oid in ipairs(old) do
    evicted = evicted + redis.call('DEL', entryPrefix .. oid)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, n - max - 1)
end
redis.call('HINCRBY', KEYS[1], 'stores', 1)
if evicted > 0 then redis.call('HINCRBY', KEYS[1], 'evicted', evicted) end
return evicted
`;

const INVALIDATE = `
local entryPrefix = ARGV[1]
local scopePrefix = ARGV[2]
local dropped = 0
for i = 2, #KEYS do
  local ids = redis.call('SMEMBERS', KEYS[i])
  for _, id in ipairs(ids) do
    local ek = entryPrefix .. id
    local scopeId = redis.call('HGET', ek, 'scopeId')
    if scopeId then
      redis.call('ZREM', scopePrefix .. scopeId, id)
      dropped = dropped + redis.call('DEL', ek)
    end
  end
  redis.call('DEL', KEYS[i])
end
if dropped > 0 then redis.call('HINCRBY', KEYS[1], 'invalidated', dropped) end
return dropped
`;

function isKey(x: CacheEvidence | CacheKey): x is CacheKey {
  return 'vector' in x && x.vector instanceof Float32Array;
}

function toBuffer(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function fromBuffer(b: Buffer): Float32Array | undefined {
  if (b.byteLength % 4 !== 0) return undefined;
  // Copy: a Buffer from ioredis may sit at an offset that is not 4-aligned.
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return new Float32Array(copy.buffer);
}

/** The semantic cache of root-cause answers. */
export class SemanticCache {
  readonly #redis: Redis;
  readonly #embedder: Embedder;
  readonly #threshold: number;
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #prefix: string;

  constructor(options: SemanticCacheOptions) {
    const parsed = Options.safeParse(options);
    if (!parsed.success) {
      const detail = parsed.error.issues
        .map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`)
        .join('; ');
      throw new CacheConfigError(`invalid semantic cache options: ${detail}`, { cause: parsed.error });
    }
    const o = parsed.data;
    this.#redis = options.redis;
    this.#embedder = options.embedder ?? new LocalEmbedder();
    this.#threshold = o.threshold;
    this.#ttlMs = o.ttlMs;
    this.#max = o.maxEntriesPerScope;
    this.#now = options.now ?? Date.now;
    this.#prefix = `${o.namespace}:semcache:`;
  }

  /** The similarity at or above which a same-scope entry answers. */
  get threshold(): number {
    return this.#threshold;
  }

  /** Normalises and embeds an incident's evidence. */
  async key(evidence: CacheEvidence): Promise<CacheKey> {
    const n = normaliseEvidence(evidence);
    const [vector] = await this.#embedder.embed([n.text]);
    if (vector === undefined) throw new CacheValueError('embedder returned no vector');
    const embedderId = this.#embedder.id;
    const scopeId = createHash('sha256').update(`${embedderId}\n${n.scope}`).digest('hex').slice(0, 32);
    return {
      embedderId,
      scope: n.scope,
      scopeId,
      services: n.services,
      guard: n.guard.join(','),
      text: n.text,
      vector,
    };
  }

  async #keyOf(x: CacheEvidence | CacheKey): Promise<CacheKey> {
    if (!isKey(x)) return this.key(x);
    if (x.embedderId !== this.#embedder.id) {
      throw new CacheValueError(
        `cache key was embedded by ${x.embedderId}, this cache uses ${this.#embedder.id}`,
      );
    }
    return x;
  }

  /**
   * The cached answer for an incident, if a same-scope entry passes the guard
   * and is similar enough (the most similar one wins). Counts a hit or a miss.
   */
  async lookup(evidence: CacheEvidence | CacheKey): Promise<CacheLookup> {
    const key = await this.#keyOf(evidence);
    const scopeKey = `${this.#prefix}s:${key.scopeId}`;
    const ids = await this.#redis.zrevrange(scopeKey, 0, this.#max - 1);
    let best: { id: string; similarity: number; value: Buffer } | undefined;
    let bestSimilarity: number | null = null;
    const gone: string[] = [];
    if (ids.length > 0) {
      const pipe = this.#redis.pipeline();
      for (const id of ids)
        pipe.hmgetBuffer(this.#entryKey(id), ['vector', 'guard', 'scope', 'embedder', 'value']);
      const rows = (await pipe.exec()) ?? [];
      rows.forEach(([err, row], i) => {
        const id = ids[i]!;
        if (err !== null) throw err;
        const [vec, guard, scope, embedder, value] = row as (Buffer | null)[];
        if (vec == null || guard == null || scope == null || embedder == null || value == null) {
          gone.push(id);
          return;
        }
        // The scope id is a hash: compare the scope itself and the guard, so nothing else can ever match.
        if (scope.toString() !== key.scope || embedder.toString() !== key.embedderId) return;
        if (guard.toString() !== key.guard) return;
        const v = fromBuffer(vec);
        if (v === undefined || v.length !== key.vector.length) return;
        const similarity = cosine(v, key.vector);
        if (bestSimilarity === null || similarity > bestSimilarity) bestSimilarity = similarity;
        if (similarity >= this.#threshold && (best === undefined || similarity > best.similarity)) {
          best = { id, similarity, value };
        }
      });
    }
    if (gone.length > 0) await this.#redis.zrem(scopeKey, ...gone);
    if (best !== undefined) {
      const value = this.#decode(best.value);
      if (value !== undefined) {
        await this.#redis
          .multi()
          .hincrby(this.#statsKey(), 'hits', 1)
          .hincrby(this.#entryKey(best.id), 'hits', 1)
          .exec();
        return { hit: true, entryId: best.id, similarity: best.similarity, value, key };
      }
      // Unreadable entries are dropped rather than served.
      await this.#redis.multi().del(this.#entryKey(best.id)).zrem(scopeKey, best.id).exec();
    }
    await this.#redis.hincrby(this.#statsKey(), 'misses', 1);
    return { hit: false, reason: ids.length === 0 ? 'empty-scope' : 'below-threshold', bestSimilarity, key };
  }

  /** Caches an answer for an incident; returns the new entry's id. */
  async store(
    evidence: CacheEvidence | CacheKey,
    value: CachedAnswer,
  ): Promise<{ entryId: string; key: CacheKey }> {
    const parsed = Cached.safeParse(value);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      throw new CacheValueError(`invalid cached answer: ${detail}`, { cause: parsed.error });
    }
    const key = await this.#keyOf(evidence);
    const entryId = randomUUID();
    const now = this.#now();
    const fields: (string | Buffer)[] = [
      'scope',
      key.scope,
      'scopeId',
      key.scopeId,
      'guard',
      key.guard,
      'embedder',
      key.embedderId,
      'services',
      JSON.stringify(key.services),
      'text',
      key.text,
      'vector',
      toBuffer(key.vector),
      'value',
      JSON.stringify(parsed.data),
      'createdAt',
      String(now),
      'hits',
      '0',
    ];
    const keys = [
      this.#statsKey(),
      this.#entryKey(entryId),
      `${this.#prefix}s:${key.scopeId}`,
      ...key.services.map((s) => this.#serviceKey(s)),
    ];
    await this.#redis.eval(
      STORE,
      keys.length,
      ...keys,
      String(this.#ttlMs),
      entryId,
      String(now),
      String(this.#max),
      `${this.#prefix}e:`,
      String(fields.length / 2),
      ...fields,
    );
    return { entryId, key };
  }

  /**
   * Drops every entry whose service set holds any of `services`: call it when
   * a deploy or a config change touches them. Returns how many were dropped.
   */
  async invalidateServices(services: readonly string[]): Promise<number> {
    const names = [...new Set(services.map((s) => s.trim().toLowerCase()).filter((s) => s.length > 0))];
    if (names.length === 0) return 0;
    const keys = [this.#statsKey(), ...names.map((s) => this.#serviceKey(s))];
    const dropped = await this.#redis.eval(
      INVALIDATE,
      keys.length,
      ...keys,
      `${this.#prefix}e:`,
      `${this.#prefix}s:`,
    );
    return Number(dropped);
  }

  /** Counters since the namespace began. */
  async stats(): Promise<CacheStats> {
    const h = await this.#redis.hgetall(this.#statsKey());
    const n = (k: string) => Number(h[k] ?? 0);
    return {
      hits: n('hits'),
      misses: n('misses'),
      stores: n('stores'),
      evicted: n('evicted'),
      invalidated: n('invalidated'),
    };
  }

  /** Remaining lifetime of an entry in ms (-2 when it is gone), for tests and the console. */
  async entryTtlMs(entryId: string): Promise<number> {
    return this.#redis.pttl(this.#entryKey(entryId));
  }

  #decode(raw: Buffer): CachedAnswer | undefined {
    try {
      const parsed = Cached.safeParse(JSON.parse(raw.toString()));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  #entryKey(id: string): string {
    return `${this.#prefix}e:${id}`;
  }

  #serviceKey(service: string): string {
    return `${this.#prefix}v:${service}`;
  }

  #statsKey(): string {
    return `${this.#prefix}stats`;
  }
}
