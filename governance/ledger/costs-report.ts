/**
 * The ledger's sums as `sentinel costs` shows them: rows for a CLI table
 * (header first) and a JSON form. Money is printed from integer
 * micro-dollars, exactly.
 */
import { formatUsd } from './prices.ts';
import type { GroupSums, LedgerSums, LedgerSummary } from './token-ledger.ts';

/** Column titles of {@link costRows}. */
export const COST_COLUMNS = [
  'group',
  'name',
  'calls',
  'prompt tokens',
  'completion tokens',
  'cost (USD)',
  'cache hits',
  'unpriced calls',
] as const;

function row(group: string, name: string, s: LedgerSums): string[] {
  return [
    group,
    name,
    String(s.calls),
    String(s.promptTokens),
    String(s.completionTokens),
    formatUsd(s.costMicroUsd),
    String(s.cacheHits),
    String(s.unpricedCalls),
  ];
}

/**
 * Table rows: a header, then one row per day, model, agent and incident (in
 * that order, each as the summary lists them), then the total.
 */
export function costRows(summary: LedgerSummary): string[][] {
  const groups: readonly (readonly [string, readonly GroupSums[]])[] = [
    ['day', summary.byDay],
    ['model', summary.byModel],
    ['agent', summary.byAgent],
    ['incident', summary.byIncident],
  ];
  return [
    [...COST_COLUMNS],
    ...groups.flatMap(([g, list]) => list.map((x) => row(g, x.key, x.sums))),
    row('total', '', summary.total),
  ];
}

/** One group's line in {@link CostReportJson}. */
export interface CostJsonRow {
  readonly name: string;
  readonly calls: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly costMicroUsd: number;
  /** Exact decimal string of {@link costMicroUsd}. */
  readonly costUsd: string;
  readonly cacheHits: number;
  readonly unpricedCalls: number;
}

export interface CostReportJson {
  readonly byDay: readonly CostJsonRow[];
  readonly byModel: readonly CostJsonRow[];
  readonly byAgent: readonly CostJsonRow[];
  readonly byIncident: readonly CostJsonRow[];
  readonly total: Omit<CostJsonRow, 'name'>;
}

function jsonRow(name: string, s: LedgerSums): CostJsonRow {
  return {
    name,
    calls: s.calls,
    promptTokens: s.promptTokens,
    completionTokens: s.completionTokens,
    costMicroUsd: s.costMicroUsd,
    costUsd: formatUsd(s.costMicroUsd),
    cacheHits: s.cacheHits,
    unpricedCalls: s.unpricedCalls,
  };
}

/** The same sums as {@link costRows}, as plain JSON (for `sentinel costs --json`). */
export function costJson(summary: LedgerSummary): CostReportJson {
  const list = (xs: readonly GroupSums[]) => xs.map((x) => jsonRow(x.key, x.sums));
  const { name: _name, ...total } = jsonRow('', summary.total);
  return {
    byDay: list(summary.byDay),
    byModel: list(summary.byModel),
    byAgent: list(summary.byAgent),
    byIncident: list(summary.byIncident),
    total,
  };
}
