/** Redis keys for tests and benches: listing and removing what a namespace wrote. */
import type { Redis } from 'ioredis';

/** Every key matching `pattern` (SCAN, so a large keyspace is not blocked). */
export async function redisKeys(redis: Redis, pattern: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}

/** Deletes every key matching `pattern`; returns how many. */
export async function deleteRedisKeys(redis: Redis, pattern: string): Promise<number> {
  const keys = await redisKeys(redis, pattern);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  return keys.length;
}
