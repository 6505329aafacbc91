/**
 * The test tiers, in the order `npm test` runs them. A file belongs to the
 * tier of its folder; within a tier, files run concurrently unless listed as
 * `serial` (they measure time, or load the machine enough to disturb a file
 * that does), and serial files run one at a time after the concurrent ones.
 */
export const TierName = { unit: 'unit', integration: 'integration', e2e: 'e2e' } as const;
export type TierName = (typeof TierName)[keyof typeof TierName];

export interface Tier {
  readonly name: TierName;
  /** What a developer runs it for (printed by `--list`). */
  readonly purpose: string;
  /** Folders under `test/` whose `*.test.ts` files make up the tier. */
  readonly dirs: readonly string[];
  /** Whether the tier needs the stack of real servers. */
  readonly servers: boolean;
  /** Files (paths from the repository root) run alone, one after another. */
  readonly serial: readonly string[];
  /** Seconds the tier should take on the 2-core reference machine (reported, never enforced). */
  readonly budgetS: number;
}

export const tiers: readonly Tier[] = [
  {
    name: TierName.unit,
    purpose: 'pure logic, no server: run after every change',
    dirs: ['unit'],
    servers: false,
    serial: [],
    budgetS: 60,
  },
  {
    name: TierName.integration,
    purpose: 'real NATS, etcd, Redis, PostgreSQL, Chromium: run before a commit that touches I/O',
    dirs: ['integration', 'deploy', 'browser'],
    servers: true,
    serial: [
      // etcd stopped under three candidates, whose keepalives must keep up with a 2 s lease.
      'test/integration/leader-election.test.ts',
      // A fleet of real processes judged on the CPU its spinner burns and on its latency histograms.
      'test/integration/fleet.test.ts',
    ],
    budgetS: 300,
  },
  {
    name: TierName.e2e,
    purpose: 'the whole swarm against every scenario: run before you push',
    dirs: ['e2e'],
    servers: true,
    serial: [],
    budgetS: 900,
  },
];

/** The whole run's budget: the issue tracker's limit for `npm test`. */
export const TOTAL_BUDGET_S = 1200;
