/**
 * The options every Redis-backed part of governance takes (the semantic
 * cache, the token ledger): a connected ioredis client and the namespace its
 * keys are prefixed with.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { NAMESPACE_PATTERN } from '../config/index.ts';

export const redisOptions = {
  redis: z.custom<Redis>((r) => typeof r === 'object' && r !== null, {
    message: 'must be an ioredis client',
  }),
  namespace: z
    .string()
    .regex(NAMESPACE_PATTERN, 'must be lower-case letters, digits or _, starting with a letter'),
} as const;
