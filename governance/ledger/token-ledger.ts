/**
 * The token ledger: every LLM call an agent makes, what it cost, summed per
 * incident, per agent, per UTC day and per model, and the budgets that make
 * an analyst hand over to the deterministic one when money or tokens run out.
 *
 * Keys, under `<namespace>:ledger:`:
 *
 * - `c:<callId>`             the call as recorded (JSON); its existence makes
 *                            recording idempotent (SET NX). TTL = retention.
 * - `sum:<group>:<name>`     hash of integer counters: calls, promptTokens,
 *                            completionTokens, costMicroUsd, cacheHits,
 *                            unpricedCalls, maxCallCostMicroUsd,
 *                            maxCallTokens. TTL = retention, refreshed.
 * - `idx:<group>`            zset of names by when they last recorded a call, for listing.
 * - `fly:<incident|day>:<n>` zset of reserved calls in flight (score =
 *                            expiry ms), see {@link TokenLedger.checkBudget}.
 *
 * Money is kept in integer micro-dollars so sums never drift. One Lua script
 * per record makes the idempotency check and every counter update a single
 * atomic step: a call recorded twice, or by two replicas at once, counts once.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { redisOptions } from '../redis-options.ts';
import { LedgerConfigError, LedgerRecordError } from './errors.ts';
import { costMicroUsd, defaultPriceTable, fieldPath, parsePriceTable, priceFor } from './prices.ts';
import type { PriceTable } from './prices.ts';
import { countTokens } from './tokens.ts';

/** One LLM call as an agent reports it. */
export interface LlmCall {
  /** Unique per call, and the same on a retry of the same record (it is the idempotency key). */
  readonly callId: string;
  readonly incidentId: string;
  /** Agent role, e.g. `analyst`. */
  readonly agent: string;
  readonly model: string;
  /** From the API's usage; counted from `promptText` with the model's tokenizer when missing. */
  readonly promptTokens?: number;
  readonly completionTokens?: number;
  readonly promptText?: string;
  readonly completionText?: string;
  readonly latencyMs: number;
  /**
   * The answer came from the semantic cache, so the model was never called:
   * it counts as a call and a cache hit, with no tokens and no cost whatever
   * token numbers were passed.
   */
  readonly cacheHit: boolean;
  /** When the call was made; its UTC date is the day it counts in. */
  readonly at: Date | string | number;
}

export interface RecordResult {
  /** False when this call id was already recorded: nothing was counted again. */
  readonly recorded: boolean;
  readonly callId: string;
  /** UTC date the call counts in. */
  readonly day: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly costMicroUsd: number;
  /** False when the model is not in the price table and the default price was used. */
  readonly priced: boolean;
  /** True when some token count came from the tokenizer rather than the API. */
  readonly tokensCounted: boolean;
}

/** Sums of a group (an incident, an agent, a day, a model). */
export interface LedgerSums {
  readonly calls: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
  readonly costMicroUsd: number;
  /** `costMicroUsd / 1e6`, for display only. */
  readonly costUsd: number;
  readonly cacheHits: number;
  /** Calls priced with the default price because their model is not in the table. */
  readonly unpricedCalls: number;
  readonly maxCallCostMicroUsd: number;
  readonly maxCallTokens: number;
}

export type LedgerGroup = 'incident' | 'agent' | 'day' | 'model';

export interface GroupSums {
  readonly key: string;
  readonly sums: LedgerSums;
}

export interface LedgerSummary {
  readonly byIncident: readonly GroupSums[];
  readonly byAgent: readonly GroupSums[];
  readonly byDay: readonly GroupSums[];
  readonly byModel: readonly GroupSums[];
  /** Over every retained day. */
  readonly total: LedgerSums;
}

/** A limit in USD and/or tokens; either may be left out. */
export interface BudgetLimit {
  readonly usd?: number;
  readonly tokens?: number;
}

export interface Budgets {
  readonly perIncident?: BudgetLimit;
  readonly perDay?: BudgetLimit;
  /**
   * What one call is assumed to cost before any has been recorded in a
   * scope, for reservations. Without it, a scope with no history admits one
   * reserved call at a time.
   */
  readonly callEstimate?: BudgetLimit;
}

export type BudgetLimitName = 'incident-usd' | 'incident-tokens' | 'day-usd' | 'day-tokens';

export type BudgetDecision =
  | {
      readonly allowed: true;
      readonly reason: string;
      readonly incident: BudgetSpend;
      readonly day: BudgetSpend;
    }
  | {
      readonly allowed: false;
      readonly reason: string;
      /** Which limit refused, and whether it is spent or would be by the calls already in flight. */
      readonly limit: BudgetLimitName;
      readonly cause: 'spent' | 'in-flight';
      readonly incident: BudgetSpend;
      readonly day: BudgetSpend;
    };

export interface BudgetSpend {
  readonly costMicroUsd: number;
  readonly tokens: number;
  /** Other reserved calls in flight. */
  readonly inFlight: number;
}

/** Options of {@link TokenLedger}. */
export interface TokenLedgerOptions {
  readonly redis: Redis;
  /** Key prefix (the Sentinel namespace). */
  readonly namespace: string;
  /** Validated with {@link parsePriceTable}. @default defaultPriceTable */
  readonly prices?: PriceTable;
  /** @default no limits */
  readonly budgets?: Budgets;
  /** How long calls and sums are kept, in ms. @default 90 days */
  readonly retentionMs?: number;
  /** How long a reservation holds when its call is never recorded or released, in ms. @default 120000 */
  readonly reservationTtlMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

const Limit = z
  .object({
    usd: z.number().nonnegative().finite().optional(),
    tokens: z.number().int().nonnegative().optional(),
  })
  .strict();

const Options = z
  .object({
    ...redisOptions,
    prices: z.unknown().optional(),
    budgets: z
      .object({ perIncident: Limit.optional(), perDay: Limit.optional(), callEstimate: Limit.optional() })
      .strict()
      .default({}),
    retentionMs: z
      .number()
      .int()
      .min(60_000)
      .default(90 * 24 * 3600 * 1000),
    reservationTtlMs: z.number().int().min(1000).max(3_600_000).default(120_000),
    now: z.custom<() => number>((f) => typeof f === 'function', { message: 'must be a function' }).optional(),
  })
  .strict();

const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a UTC date YYYY-MM-DD');
const Name = z.string().min(1).max(256);

const Call = z.object({
  callId: Name,
  incidentId: Name,
  agent: z.string().min(1).max(128),
  model: Name,
  promptTokens: z.number().int().nonnegative().optional(),
  completionTokens: z.number().int().nonnegative().optional(),
  promptText: z.string().optional(),
  completionText: z.string().optional(),
  latencyMs: z.number().nonnegative().finite(),
  cacheHit: z.boolean(),
  at: z.union([z.date(), z.iso.datetime({ offset: true }), z.number().int().nonnegative()]),
});

/** The UTC date (YYYY-MM-DD) of an instant. */
export function utcDay(at: Date | string | number): string {
  return new Date(at).toISOString().slice(0, 10);
}

const RECORD = `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0, redis.call('GET', KEYS[1])}
end
local cost = tonumber(ARGV[5])
local tokens = tonumber(ARGV[3]) + tonumber(ARGV[4])
for i = 2, 5 do
  local k = KEYS[i]
  redis.call('HINCRBY', k, 'calls', 1)
  redis.call('HINCRBY', k, 'promptTokens', ARGV[3])
  redis.call('HINCRBY', k, 'completionTokens', ARGV[4])
  redis.call('HINCRBY', k, 'costMicroUsd', ARGV[5])
  redis.call('HINCRBY', k, 'cacheHits', ARGV[6])
  redis.call('HINCRBY', k, 'unpricedCalls', ARGV[7])
  if cost > tonumber(redis.call('HGET', k, 'maxCallCostMicroUsd') or '0') then
    redis.call('HSET', k, 'maxCallCostMicroUsd', ARGV[5])
  end
  if tokens > tonumber(redis.call('HGET', k, 'maxCallTokens') or '0') then
    redis.call('HSET', k, 'maxCallTokens', tokens)
  end
  redis.call('PEXPIRE', k, ARGV[2])
end
for i = 6, 9 do
  redis.call('ZADD', KEYS[i], ARGV[8], ARGV[i + 4])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[9])
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
redis.call('ZREM', KEYS[10], ARGV[14])
redis.call('ZREM', KEYS[11], ARGV[14])
return {1, ARGV[1]}
`;

const CHECK = `
local now = tonumber(ARGV[1])
local reserve = ARGV[2]
local function spent(k)
  local v = redis.call('HMGET', k, 'costMicroUsd', 'promptTokens', 'completionTokens', 'maxCallCostMicroUsd', 'maxCallTokens')
  return tonumber(v[1] or '0'), tonumber(v[2] or '0') + tonumber(v[3] or '0'), tonumber(v[4] or '0'), tonumber(v[5] or '0')
end
local function others(fly)
  redis.call('ZREMRANGEBYSCORE', fly, '-inf', now)
  local n = redis.call('ZCARD', fly)
  if reserve ~= '' and redis.call('ZSCORE', fly, reserve) then n = n - 1 end
  return n
end
local function estimate(seen, configured)
  if seen > configured then return seen end
  return configured
end
local function judge(limit, used, est, n)
  if limit < 0 then return false end
  if used >= limit then return 'spent' end
  if reserve ~= '' and n > 0 then
    if est <= 0 or used + n * est >= limit then return 'in-flight' end
  end
  return false
end
local iu, it, imc, imt = spent(KEYS[1])
local du, dt, dmc, dmt = spent(KEYS[2])
local ino = others(KEYS[3])
local dno = others(KEYS[4])
local eu = tonumber(ARGV[8])
local et = tonumber(ARGV[9])
local checks = {
  {'incident-usd', tonumber(ARGV[4]), iu, estimate(imc, eu), ino},
  {'incident-tokens', tonumber(ARGV[5]), it, estimate(imt, et), ino},
  {'day-usd', tonumber(ARGV[6]), du, estimate(dmc, eu), dno},
  {'day-tokens', tonumber(ARGV[7]), dt, estimate(dmt, et), dno},
}
for _, c in ipairs(checks) do
  local verdict = judge(c[2], c[3], c[4], c[5])
  if verdict then return {0, c[1], verdict, iu, it, ino, du, dt, dno} end
end
if reserve ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[3], reserve)
  redis.call('PEXPIRE', KEYS[3], ARGV[10])
  redis.call('ZADD', KEYS[4], ARGV[3], reserve)
  redis.call('PEXPIRE', KEYS[4], ARGV[10])
end
return {1, '', '', iu, it, ino, du, dt, dno}
`;

const EMPTY: LedgerSums = sumsOf({});

function sumsOf(h: Record<string, string>): LedgerSums {
  const n = (k: string) => Number(h[k] ?? 0);
  const costMicroUsd = n('costMicroUsd');
  return {
    calls: n('calls'),
    promptTokens: n('promptTokens'),
    completionTokens: n('completionTokens'),
    totalTokens: n('promptTokens') + n('completionTokens'),
    costMicroUsd,
    costUsd: costMicroUsd / 1e6,
    cacheHits: n('cacheHits'),
    unpricedCalls: n('unpricedCalls'),
    maxCallCostMicroUsd: n('maxCallCostMicroUsd'),
    maxCallTokens: n('maxCallTokens'),
  };
}

/** Adds sums together (for totals). */
export function addSums(a: LedgerSums, b: LedgerSums): LedgerSums {
  const costMicroUsd = a.costMicroUsd + b.costMicroUsd;
  return {
    calls: a.calls + b.calls,
    promptTokens: a.promptTokens + b.promptTokens,
    completionTokens: a.completionTokens + b.completionTokens,
    totalTokens: a.totalTokens + b.totalTokens,
    costMicroUsd,
    costUsd: costMicroUsd / 1e6,
    cacheHits: a.cacheHits + b.cacheHits,
    unpricedCalls: a.unpricedCalls + b.unpricedCalls,
    maxCallCostMicroUsd: Math.max(a.maxCallCostMicroUsd, b.maxCallCostMicroUsd),
    maxCallTokens: Math.max(a.maxCallTokens, b.maxCallTokens),
  };
}

function invalid(what: string, error: z.ZodError): LedgerRecordError {
  const detail = error.issues.map((i) => `${fieldPath(what, i.path)}: ${i.message}`).join('; ');
  return new LedgerRecordError(`invalid ${what}: ${detail}`, { cause: error });
}

const StoredCall = z.object({
  promptTokens: z.number(),
  completionTokens: z.number(),
  costMicroUsd: z.number(),
  priced: z.boolean(),
  tokensCounted: z.boolean(),
  day: z.string(),
});

/** The token ledger over one Redis. */
export class TokenLedger {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #prices: PriceTable;
  readonly #budgets: Budgets;
  readonly #retentionMs: number;
  readonly #reservationTtlMs: number;
  readonly #now: () => number;

  /** @throws LedgerConfigError naming the field, when an option, a price or a budget is invalid. */
  constructor(options: TokenLedgerOptions) {
    const parsed = Options.safeParse(options);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => `${fieldPath('', i.path)}: ${i.message}`).join('; ');
      throw new LedgerConfigError(`invalid token ledger options: ${detail}`, { cause: parsed.error });
    }
    const o = parsed.data;
    this.#redis = options.redis;
    this.#prefix = `${o.namespace}:ledger:`;
    this.#prices = o.prices === undefined ? defaultPriceTable : parsePriceTable(o.prices);
    this.#budgets = o.budgets;
    this.#retentionMs = o.retentionMs;
    this.#reservationTtlMs = o.reservationTtlMs;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Records one call. Idempotent by `callId`: a second record of the same id
   * counts nothing and returns what the first one recorded. Also ends the
   * call's reservation, if {@link checkBudget} made one.
   */
  async record(call: LlmCall): Promise<RecordResult> {
    const parsed = Call.safeParse(call);
    if (!parsed.success) throw invalid('call', parsed.error);
    const c = parsed.data;
    const atMs = new Date(c.at).getTime();
    const day = utcDay(atMs);
    const { price, known } = priceFor(this.#prices, c.model);
    let tokensCounted = false;
    let promptTokens = 0;
    let completionTokens = 0;
    if (!c.cacheHit) {
      promptTokens = c.promptTokens ?? (c.promptText === undefined ? 0 : countTokens(c.promptText, c.model));
      completionTokens =
        c.completionTokens ?? (c.completionText === undefined ? 0 : countTokens(c.completionText, c.model));
      tokensCounted =
        (c.promptTokens === undefined && c.promptText !== undefined) ||
        (c.completionTokens === undefined && c.completionText !== undefined);
    }
    const cost = c.cacheHit ? 0 : costMicroUsd(price, promptTokens, completionTokens);
    const now = this.#now();
    const priced = known || c.cacheHit;
    const stored = {
      callId: c.callId,
      incidentId: c.incidentId,
      agent: c.agent,
      model: c.model,
      day,
      atMs,
      latencyMs: c.latencyMs,
      cacheHit: c.cacheHit,
      promptTokens,
      completionTokens,
      costMicroUsd: cost,
      priced,
      tokensCounted,
    };
    const keys = [
      this.#callKey(c.callId),
      this.#sumKey('incident', c.incidentId),
      this.#sumKey('agent', c.agent),
      this.#sumKey('day', day),
      this.#sumKey('model', c.model),
      this.#idxKey('incident'),
      this.#idxKey('agent'),
      this.#idxKey('day'),
      this.#idxKey('model'),
      this.#flyKey('incident', c.incidentId),
      this.#flyKey('day', day),
    ];
    const reply = (await this.#redis.eval(
      RECORD,
      keys.length,
      ...keys,
      JSON.stringify(stored),
      String(this.#retentionMs),
      String(promptTokens),
      String(completionTokens),
      String(cost),
      c.cacheHit ? '1' : '0',
      priced ? '0' : '1',
      // Listed by when they were recorded: a late record of an old call still shows as recent activity.
      String(now),
      String(now - this.#retentionMs),
      c.incidentId,
      c.agent,
      day,
      c.model,
      c.callId,
    )) as [number, string | null];
    const [recorded, raw] = reply;
    if (recorded === 1) return { recorded: true, ...pick(stored) };
    const first = StoredCall.safeParse(raw === null ? undefined : JSON.parse(raw));
    // The first record expired between SET NX and GET: report this one, counted nowhere.
    if (!first.success) return { recorded: false, ...pick(stored) };
    return { recorded: false, callId: c.callId, ...first.data };
  }

  /** Sums of one incident, agent, day (`YYYY-MM-DD`, UTC) or model; zeros when none is recorded. */
  async sums(group: LedgerGroup, name: string): Promise<LedgerSums> {
    this.#checkName(group, name);
    return sumsOf(await this.#redis.hgetall(this.#sumKey(group, name)));
  }

  incidentSums(incidentId: string): Promise<LedgerSums> {
    return this.sums('incident', incidentId);
  }

  agentSums(agent: string): Promise<LedgerSums> {
    return this.sums('agent', agent);
  }

  daySums(day: string): Promise<LedgerSums> {
    return this.sums('day', day);
  }

  modelSums(model: string): Promise<LedgerSums> {
    return this.sums('model', model);
  }

  /**
   * The groups of one kind with their sums: days newest date first, the
   * others most recently recorded first; `limit` 0 lists all. @default limit 50
   */
  async list(group: LedgerGroup, options: { readonly limit?: number } = {}): Promise<GroupSums[]> {
    const limit = options.limit ?? 50;
    let names: string[];
    if (group === 'day') {
      // Days read best in date order, newest first (at most one name per retained day).
      const all = (await this.#redis.zrange(this.#idxKey(group), 0, -1)).sort().reverse();
      names = limit <= 0 ? all : all.slice(0, limit);
    } else {
      names = await this.#redis.zrevrange(this.#idxKey(group), 0, limit <= 0 ? -1 : limit - 1);
    }
    if (names.length === 0) return [];
    const pipe = this.#redis.pipeline();
    for (const n of names) pipe.hgetall(this.#sumKey(group, n));
    const rows = (await pipe.exec()) ?? [];
    const out: GroupSums[] = [];
    rows.forEach(([err, h], i) => {
      if (err !== null) throw err;
      const sums = sumsOf(h as Record<string, string>);
      // A name whose sums expired before its index entry was pruned.
      if (sums.calls > 0) out.push({ key: names[i]!, sums });
    });
    return out;
  }

  /** Every group's sums (at most `limit` names each, most recent first) and the total over all days. */
  async summary(options: { readonly limit?: number } = {}): Promise<LedgerSummary> {
    const [byIncident, byAgent, byModel, allDays] = await Promise.all([
      this.list('incident', options),
      this.list('agent', options),
      this.list('model', options),
      this.list('day', { limit: 0 }),
    ]);
    const limit = options.limit ?? 50;
    const byDay = limit <= 0 ? allDays : allDays.slice(0, limit);
    return {
      byIncident,
      byAgent,
      byDay,
      byModel,
      total: allDays.reduce((t, d) => addSums(t, d.sums), EMPTY),
    };
  }

  /**
   * Whether an agent may make another LLM call for `incidentId` on `day`
   * (UTC `YYYY-MM-DD`), under the per-incident and per-day budgets. A limit
   * refuses once what is recorded reaches it; the refused analyst hands over
   * to the deterministic one.
   *
   * How far a budget can be overspent:
   * - Without `reserve`, the check only reads what is recorded. Each caller
   *   checking concurrently may make one more call, so overspend is at most
   *   one call per concurrent caller (two analysts: two calls).
   * - With `reserve: callId`, the check and a reservation of that call are
   *   one atomic step, and a reservation is refused while the recorded spend
   *   plus one estimated call per other reservation in flight would reach the
   *   limit. The estimate is the largest call seen in that scope (or
   *   `budgets.callEstimate`); with neither, only one reserved call runs at a
   *   time. So total spend stays below the limit plus one call, however many
   *   analysts race, as long as no call costs more than the largest seen
   *   before it (or the estimate). {@link record} ends the reservation;
   *   {@link release} ends it for a call that was never made, and otherwise
   *   it lapses after `reservationTtlMs`.
   */
  async checkBudget(
    incidentId: string,
    day: string,
    options: { readonly reserve?: string } = {},
  ): Promise<BudgetDecision> {
    this.#checkName('incident', incidentId);
    this.#checkName('day', day);
    if (options.reserve !== undefined) this.#checkName('reserve', options.reserve);
    const b = this.#budgets;
    const micro = (usd: number | undefined) => (usd === undefined ? '-1' : String(Math.round(usd * 1e6)));
    const toks = (t: number | undefined) => (t === undefined ? '-1' : String(t));
    const now = this.#now();
    const keys = [
      this.#sumKey('incident', incidentId),
      this.#sumKey('day', day),
      this.#flyKey('incident', incidentId),
      this.#flyKey('day', day),
    ];
    const r = (await this.#redis.eval(
      CHECK,
      keys.length,
      ...keys,
      String(now),
      options.reserve ?? '',
      String(now + this.#reservationTtlMs),
      micro(b.perIncident?.usd),
      toks(b.perIncident?.tokens),
      micro(b.perDay?.usd),
      toks(b.perDay?.tokens),
      micro(b.callEstimate?.usd),
      toks(b.callEstimate?.tokens),
      String(this.#reservationTtlMs),
    )) as [number, string, string, number, number, number, number, number, number];
    const incident: BudgetSpend = { costMicroUsd: r[3], tokens: r[4], inFlight: r[5] };
    const dayed: BudgetSpend = { costMicroUsd: r[6], tokens: r[7], inFlight: r[8] };
    if (r[0] === 1) return { allowed: true, reason: 'within budget', incident, day: dayed };
    const limit = r[1] as BudgetLimitName;
    const cause = r[2] === 'in-flight' ? 'in-flight' : 'spent';
    return {
      allowed: false,
      reason: this.#reason(limit, cause, incident, dayed),
      limit,
      cause,
      incident,
      day: dayed,
    };
  }

  /** Ends a reservation whose call was never made (the call failed before the model answered). */
  async release(callId: string, incidentId: string, day: string): Promise<void> {
    this.#checkName('incident', incidentId);
    this.#checkName('day', day);
    await this.#redis
      .multi()
      .zrem(this.#flyKey('incident', incidentId), callId)
      .zrem(this.#flyKey('day', day), callId)
      .exec();
  }

  #reason(
    limit: BudgetLimitName,
    cause: 'spent' | 'in-flight',
    incident: BudgetSpend,
    day: BudgetSpend,
  ): string {
    const scope = limit.startsWith('incident') ? 'incident' : 'daily';
    const spend = limit.startsWith('incident') ? incident : day;
    const l = limit.startsWith('incident') ? this.#budgets.perIncident : this.#budgets.perDay;
    const what = limit.endsWith('usd')
      ? `$${(spend.costMicroUsd / 1e6).toFixed(6)} of $${l?.usd ?? 0}`
      : `${spend.tokens} of ${l?.tokens ?? 0} tokens`;
    return cause === 'spent'
      ? `${scope} ${limit.endsWith('usd') ? 'USD' : 'token'} budget spent: ${what}`
      : `${scope} ${limit.endsWith('usd') ? 'USD' : 'token'} budget would be spent by ${spend.inFlight} call(s) in flight: ${what}`;
  }

  #checkName(what: string, name: string): void {
    const r = (what === 'day' ? Day : Name).safeParse(name);
    if (!r.success) throw invalid(what, r.error);
  }

  #callKey(callId: string): string {
    return `${this.#prefix}c:${callId}`;
  }

  #sumKey(group: LedgerGroup, name: string): string {
    return `${this.#prefix}sum:${group}:${name}`;
  }

  #idxKey(group: LedgerGroup): string {
    return `${this.#prefix}idx:${group}`;
  }

  #flyKey(group: 'incident' | 'day', name: string): string {
    return `${this.#prefix}fly:${group}:${name}`;
  }
}

function pick(s: {
  callId: string;
  day: string;
  promptTokens: number;
  completionTokens: number;
  costMicroUsd: number;
  priced: boolean;
  tokensCounted: boolean;
}): Omit<RecordResult, 'recorded'> {
  return {
    callId: s.callId,
    day: s.day,
    promptTokens: s.promptTokens,
    completionTokens: s.completionTokens,
    costMicroUsd: s.costMicroUsd,
    priced: s.priced,
    tokensCounted: s.tokensCounted,
  };
}
