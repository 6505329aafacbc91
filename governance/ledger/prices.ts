/**
 * What a model's tokens cost: USD per million prompt and completion tokens.
 * The table is configuration (prices change and local models cost nothing);
 * a model missing from it is priced with the table's default and flagged, so
 * a report shows which costs are guesses.
 */
import { z } from 'zod';
import { LedgerConfigError } from './errors.ts';

/** USD per 1M tokens. */
export interface ModelPrice {
  readonly prompt: number;
  readonly completion: number;
}

export interface PriceTable {
  /** By model name; a dated or suffixed name (`gpt-4o-2024-08-06`) uses its longest listed prefix. */
  readonly models: Readonly<Record<string, ModelPrice>>;
  /** For models not listed. */
  readonly default: ModelPrice;
}

/** Highest price accepted per 1M tokens: anything above is a typo (per-token instead of per-million, say). */
const MAX_USD_PER_MILLION = 10_000;

const Price = z
  .object({
    prompt: z.number().nonnegative().max(MAX_USD_PER_MILLION),
    completion: z.number().nonnegative().max(MAX_USD_PER_MILLION),
  })
  .strict();

const Table = z
  .object({
    models: z.record(z.string().min(1).max(256), Price),
    default: Price,
  })
  .strict();

/**
 * List prices (USD per 1M tokens, standard tier) of common OpenAI models.
 * The default is deliberately high (gpt-4-turbo's) so an unknown model trips
 * budgets early rather than late.
 */
export const defaultPriceTable: PriceTable = {
  models: {
    'gpt-4o': { prompt: 2.5, completion: 10 },
    'gpt-4o-mini': { prompt: 0.15, completion: 0.6 },
    'gpt-4.1': { prompt: 2, completion: 8 },
    'gpt-4.1-mini': { prompt: 0.4, completion: 1.6 },
    'gpt-4.1-nano': { prompt: 0.1, completion: 0.4 },
    o1: { prompt: 15, completion: 60 },
    o3: { prompt: 2, completion: 8 },
    'o3-mini': { prompt: 1.1, completion: 4.4 },
    'o4-mini': { prompt: 1.1, completion: 4.4 },
    'gpt-4-turbo': { prompt: 10, completion: 30 },
    'gpt-3.5-turbo': { prompt: 0.5, completion: 1.5 },
  },
  default: { prompt: 10, completion: 30 },
};

/** A zod issue path as a reader writes it: `models["gpt-4.1"].prompt`. */
export function fieldPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (typeof p === 'string' && /^[A-Za-z_$][\w$]*$/.test(p)) out += out.length > 0 ? `.${p}` : p;
    else out += `[${JSON.stringify(String(p))}]`;
  }
  return out || '(root)';
}

/** Validates a price table from configuration; the error names each bad field. */
export function parsePriceTable(input: unknown): PriceTable {
  const parsed = Table.safeParse(input);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${fieldPath('prices', i.path)}: ${i.message}`).join('; ');
    throw new LedgerConfigError(`invalid price table: ${detail}`, { cause: parsed.error });
  }
  return parsed.data;
}

/** The price of a model: exact name, else the longest listed prefix, else the default (`known: false`). */
export function priceFor(
  table: PriceTable,
  model: string,
): { readonly price: ModelPrice; readonly known: boolean; readonly matched?: string } {
  const m = model.toLowerCase().slice(model.lastIndexOf('/') + 1);
  const exact = table.models[m];
  if (exact) return { price: exact, known: true, matched: m };
  let best: string | undefined;
  for (const name of Object.keys(table.models)) {
    // Only at a separator, so `o1` never prices `o10x` and `gpt-4` never prices `gpt-4o`.
    if (m.startsWith(`${name}-`) && (best === undefined || name.length > best.length)) best = name;
  }
  if (best !== undefined) return { price: table.models[best]!, known: true, matched: best };
  return { price: table.default, known: false };
}

/**
 * Cost in micro-dollars, an integer, so sums never drift. USD per 1M tokens
 * is micro-USD per token; the call's total is rounded once.
 */
export function costMicroUsd(price: ModelPrice, promptTokens: number, completionTokens: number): number {
  return Math.round(promptTokens * price.prompt + completionTokens * price.completion);
}

/** Micro-dollars as an exact decimal string of USD (`1234567` → `"1.234567"`). */
export function formatUsd(micro: number): string {
  const sign = micro < 0 ? '-' : '';
  const abs = Math.abs(Math.trunc(micro));
  return `${sign}${Math.trunc(abs / 1_000_000)}.${String(abs % 1_000_000).padStart(6, '0')}`;
}
