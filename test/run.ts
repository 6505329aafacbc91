/**
 * `npm test` and its tiers. With no arguments: the type check, lint and
 * format check beside the unit tier, then the stack, the integration tier and
 * the end-to-end tier; it ends with the time of each tier, the ten slowest
 * files, and the line `N passed, N failed` (each check counts as one test).
 *
 *   node test/run.ts [--tier unit|integration|e2e]... [--no-checks | --checks-only]
 *                    [--name PATTERN] [--verbose] [--list] [file...]
 *
 * Files given by path run in their own tier's way (servers or none), with no
 * checks. `--name` runs only the tests whose name matches (node's
 * `--test-name-pattern`). Each file is a process of its own; its output is
 * kept and printed whole when it fails (always with `--verbose`), so files
 * running side by side never interleave.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { childEnv, loadConfig, repoRoot } from '../config/index.ts';
import { stackUp } from '../deploy/index.ts';
import { removeStaleTestState } from './support/harness.ts';
import { canUseNetns, runInNetns } from './support/netns.ts';
import { takeRunLock, waitForRunLock } from './support/run-lock.ts';
import { TOTAL_BUDGET_S, tiers } from './tiers.ts';
import type { Tier, TierName } from './tiers.ts';

/**
 * A file still running after this long is killed with its whole process
 * group, and fails: a guard against a hang, not a budget (budgets are printed,
 * never enforced), so it is twice the tier's budget and at least 15 minutes.
 */
function fileTimeoutMs(group: TierName | 'checks'): number {
  const budgetS = tiers.find((t) => t.name === group)?.budgetS ?? 0;
  return Math.max(15 * 60, 2 * budgetS) * 1000;
}
/** Files of a tier run side by side up to this many (the machine has two cores; most files wait on servers). */
const CONCURRENCY = 3;
/** The note of the run that has this machine's loopback ports. */
const MACHINE_LOCK = '/tmp/sentinel-npm-test.lock';
/**
 * End-to-end tiers judge detection on the machine's CPU: two of them at once
 * (two checkouts) would starve each other's fleets, so the second waits.
 */
const E2E_LOCK = '/tmp/sentinel-e2e.lock';
/** Kept of a file's output: its tail, where the failures are. */
const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

interface Job {
  readonly label: string;
  readonly group: TierName | 'checks';
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
  /** A node:test file: its counts come from the count reporter, not its exit code alone. */
  readonly countsFile?: string;
}

interface Done {
  readonly job: Job;
  readonly seconds: number;
  /** Seconds per test file (a job of several files reports each file's tests' time). */
  readonly files: readonly { readonly file: string; readonly seconds: number }[];
  readonly passed: number;
  readonly failed: number;
  readonly ok: boolean;
}

const { values, positionals } = parseArgs({
  options: {
    tier: { type: 'string', multiple: true },
    'no-checks': { type: 'boolean', default: false },
    'checks-only': { type: 'boolean', default: false },
    name: { type: 'string' },
    verbose: { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
    // Set by this script when it re-runs itself inside a network namespace.
    'in-netns': { type: 'string' },
  },
  allowPositionals: true,
});

if (values.list) {
  for (const t of tiers) process.stdout.write(`${t.name.padEnd(12)} ${t.purpose}\n`);
  process.exit(0);
}

const reports = path.join(repoRoot, '.reports');
const countsDir = path.join(reports, `counts-${process.pid}`);

const bin = (name: string) => path.join(repoRoot, 'node_modules', '.bin', name);
const rel = (file: string) => path.relative(repoRoot, path.resolve(file));

function filesOf(tier: Tier): string[] {
  return tier.dirs.flatMap((dir) => {
    const abs = path.join(repoRoot, 'test', dir);
    if (!existsSync(abs)) return [];
    return readdirSync(abs, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.test.ts'))
      .sort()
      .map((f) => rel(path.join(abs, f)));
  });
}

function tierOf(file: string): Tier {
  const t = tiers.find((x) => x.dirs.some((d) => file.startsWith(`test/${d}/`)));
  if (!t) throw new Error(`${file} is in no tier (test/tiers.ts lists each tier's folders)`);
  return t;
}

/**
 * The unit tier runs with every server pointed at a closed port and a home of
 * its own: a unit test that reaches for a server fails at once, instead of
 * quietly starting the stack.
 */
const unitEnv: Record<string, string> = {
  SENTINEL_HOME: path.join(repoRoot, '.sentinel', 'unit-home'),
  SENTINEL_NATS_URL: 'nats://127.0.0.1:9',
  SENTINEL_ETCD_URL: 'http://127.0.0.1:9',
  SENTINEL_REDIS_URL: 'redis://127.0.0.1:9',
  SENTINEL_DATABASE_URL: 'postgres://nobody@127.0.0.1:9/none',
  SENTINEL_ALLOW_APT: '0',
};

/**
 * One `node --test` process for `files`. Several files share one process
 * (`--test-isolation=none`) where nothing outside the process is touched: the
 * unit tier loads its modules once instead of once per file.
 */
function testJob(files: readonly string[], tier: Tier): Job {
  const label =
    files.length === 1 ? (files[0] as string) : `${tier.name} (${files.length} files, one process)`;
  const counts = path.join(countsDir, `${label.replace(/[^a-zA-Z0-9]+/g, '_')}.json`);
  return {
    label,
    group: tier.name,
    command: process.execPath,
    args: [
      '--test',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=./test/support/count-reporter.ts',
      `--test-reporter-destination=${counts}`,
      ...(values.name === undefined ? [] : ['--test-name-pattern', values.name]),
      ...(files.length > 1 ? ['--test-isolation=none'] : []),
      ...files,
    ],
    ...(tier.servers ? {} : { env: unitEnv }),
    countsFile: counts,
  };
}

const running = new Set<number>();

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Runs one job in a process group of its own, keeping its output. */
function runJob(job: Job): Promise<Done> {
  const started = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const keep = (b: Buffer) => {
      chunks.push(b);
      bytes += b.length;
      while (bytes > MAX_OUTPUT_BYTES && chunks.length > 1) bytes -= (chunks.shift() as Buffer).length;
    };
    const child = spawn(job.command, job.args, {
      cwd: repoRoot,
      env: childEnv({ ...job.env, FORCE_COLOR: '0' }),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const pid = child.pid ?? 0;
    running.add(pid);
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(pid);
    }, fileTimeoutMs(job.group));
    child.on('close', (code) => {
      clearTimeout(timer);
      running.delete(pid);
      // Whatever the file started and left behind goes with it.
      killGroup(pid);
      const seconds = (performance.now() - started) / 1000;
      let passed = 0;
      let failed = 0;
      let files = [{ file: job.label, seconds }];
      if (job.countsFile) {
        try {
          const c = JSON.parse(readFileSync(job.countsFile, 'utf8')) as {
            passed: number;
            failed: number;
            fileMs: Record<string, number>;
          };
          passed = c.passed;
          failed = c.failed;
          if (Object.keys(c.fileMs).length > 1)
            files = Object.entries(c.fileMs).map(([f, ms]) => ({ file: rel(f), seconds: ms / 1000 }));
        } catch {
          failed = 1; // the file never reported: it crashed before its tests ran
        }
        if (code !== 0 && failed === 0) failed = 1;
      } else if (code === 0) passed = 1;
      else failed = 1;
      const ok = code === 0 && failed === 0 && !timedOut;
      const out = Buffer.concat(chunks).toString('utf8');
      const head = `${ok ? 'ok    ' : 'FAILED'} ${job.label}  ${seconds.toFixed(1)} s${
        job.countsFile ? `  (${passed} passed, ${failed} failed)` : ''
      }${timedOut ? `  killed after ${fileTimeoutMs(job.group) / 60_000} min` : ''}`;
      if (!ok || values.verbose)
        process.stdout.write(`\n── ${head}\n${out.trimEnd()}\n── end of ${job.label}\n`);
      else {
        // A passing file's own diagnostics (measured takeover times, an e2e scenario run again alone)
        // are what a reader of the summary needs; the spec reporter indents them under their test.
        const notes = out.split('\n').filter((l) => /^\s+ℹ /.test(l));
        process.stdout.write(`${head}\n${notes.map((l) => `    ${l.trim()}\n`).join('')}`);
      }
      resolve({ job, seconds, files, passed, failed: ok ? failed : Math.max(failed, 1), ok });
    });
  });
}

/** Runs jobs, at most `limit` at a time. */
async function pool(jobs: readonly Job[], limit: number): Promise<Done[]> {
  const queue = [...jobs];
  const done: Done[] = [];
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) done.push(await runJob(job));
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return done;
}

// What to run.
const explicit = positionals.map(rel);
const chosenTiers: Tier[] =
  values.tier === undefined
    ? [...tiers]
    : values.tier.map((n) => {
        const t = tiers.find((x) => x.name === n);
        if (!t) {
          process.stderr.write(`unknown tier ${n}: one of ${tiers.map((x) => x.name).join(', ')}\n`);
          process.exit(2);
        }
        return t;
      });
for (const f of explicit) {
  if (!existsSync(path.join(repoRoot, f))) {
    process.stderr.write(`no such test file: ${f}\n`);
    process.exit(2);
  }
}
const plan = (values['checks-only'] ? [] : chosenTiers)
  .map((tier) => {
    const all = explicit.length > 0 ? explicit.filter((f) => tierOf(f) === tier) : filesOf(tier);
    return {
      tier,
      concurrent: all.filter((f) => !tier.serial.includes(f)),
      serial: all.filter((f) => tier.serial.includes(f)),
    };
  })
  .filter((p) => p.concurrent.length + p.serial.length > 0);
const withChecks =
  values['checks-only'] || (!values['no-checks'] && explicit.length === 0 && values.tier === undefined);

// One run with servers per checkout; a second checkout's run gets a loopback of its own.
const releases: (() => void)[] = [];
if (plan.some((p) => p.tier.servers)) {
  const home = loadConfig().home;
  if (values['in-netns'] === undefined) {
    const local = takeRunLock(path.join(home, 'test-run.lock'), repoRoot);
    if (!local.taken) {
      process.stderr.write(
        `npm test is already running in this checkout (pid ${local.holder.pid}, since ${local.holder.since}): wait for it, or stop it\n`,
      );
      process.exit(1);
    }
    releases.push(() => local.release());
    const machine = takeRunLock(MACHINE_LOCK, repoRoot);
    if (!machine.taken) {
      if (!canUseNetns()) {
        local.release();
        process.stderr.write(
          `npm test is already running on this machine for ${machine.holder.checkout} (pid ${machine.holder.pid}), ` +
            `and a second run needs a network namespace of its own (root and iproute2): wait for the first one\n`,
        );
        process.exit(1);
      }
      process.stdout.write(
        `npm test is already running on this machine for ${machine.holder.checkout} (pid ${machine.holder.pid}): ` +
          `this run gets a network namespace of its own, with a stack of its own on the same loopback ports\n`,
      );
      const code = await runInNetns(process.argv.slice(2));
      local.release();
      process.exit(code);
    }
    releases.push(() => machine.release());
  }
}

function stopAll(): void {
  for (const pid of running) killGroup(pid);
  for (const release of releases) release();
  process.stdout.write('\ninterrupted: every test process was stopped\n');
  process.exit(130);
}
process.once('SIGINT', stopAll);
process.once('SIGTERM', stopAll);

const checks: Job[] = withChecks
  ? [
      { label: 'typecheck', group: 'checks', command: bin('tsc'), args: ['-p', 'tsconfig.json'] },
      { label: 'lint', group: 'checks', command: bin('eslint'), args: ['--max-warnings', '0', '.'] },
      {
        label: 'format',
        group: 'checks',
        command: bin('prettier'),
        args: ['--check', '--log-level', 'warn', '.'],
      },
    ]
  : [];

mkdirSync(countsDir, { recursive: true });
const results: Done[] = [];
const tierSeconds = new Map<string, number>();
const runStarted = performance.now();
let stackReady = false;

/**
 * The checks run in a lane of their own from the start, beside the unit tier,
 * the stack's start and the integration files that share the machine anyway;
 * whatever measures or judges time (a tier's serial files, the end-to-end
 * tier) waits until they are done.
 */
const checksStarted = performance.now();
const checksLane = pool(checks, 1).then((done) => {
  results.push(...done);
  if (done.length > 0) tierSeconds.set('checks', (performance.now() - checksStarted) / 1000);
});

for (const { tier, concurrent, serial } of plan) {
  if (tier.servers && !stackReady) {
    process.stdout.write('\n== stack\n');
    const config = loadConfig();
    await stackUp(config, {
      log: {
        info: (m) => process.stdout.write(`${m}\n`),
        warn: (m) => process.stdout.write(`warning: ${m}\n`),
      },
    });
    const stale = await removeStaleTestState(config);
    if (stale.length > 0) process.stdout.write(`removed what an interrupted run left: ${stale.join(', ')}\n`);
    stackReady = true;
  }
  const quiet = tier.name === 'e2e';
  if (quiet) await checksLane;
  process.stdout.write(
    `\n== ${tier.name}: ${concurrent.length + serial.length} files` +
      (serial.length > 0 ? ` (${serial.length} alone after the rest)` : '') +
      '\n',
  );
  const started = performance.now();
  const releaseE2e = quiet
    ? await waitForRunLock(E2E_LOCK, repoRoot, (line) => process.stdout.write(`${line}\n`))
    : undefined;
  if (releaseE2e) releases.push(releaseE2e);
  const jobs = tier.servers
    ? concurrent.map((f) => testJob([f], tier))
    : concurrent.length > 0
      ? [testJob(concurrent, tier)]
      : [];
  results.push(...(await pool(jobs, CONCURRENCY)));
  if (serial.length > 0) {
    await checksLane;
    results.push(
      ...(await pool(
        serial.map((f) => testJob([f], tier)),
        1,
      )),
    );
  }
  releaseE2e?.();
  tierSeconds.set(tier.name, (performance.now() - started) / 1000);
}
await checksLane;

// The budget: each tier's time against its budget, and the ten slowest files.
const totalS = (performance.now() - runStarted) / 1000;
process.stdout.write('\n== time\n');
const checksS = tierSeconds.get('checks');
if (checksS !== undefined)
  process.stdout.write(`${'checks'.padEnd(12)} ${checksS.toFixed(0).padStart(5)} s   (beside the tiers)\n`);
for (const t of plan) {
  const s = tierSeconds.get(t.tier.name) ?? 0;
  process.stdout.write(
    `${t.tier.name.padEnd(12)} ${s.toFixed(0).padStart(5)} s   budget ${t.tier.budgetS} s${s > t.tier.budgetS ? '   OVER BUDGET' : ''}\n`,
  );
}
process.stdout.write(
  `${'total'.padEnd(12)} ${totalS.toFixed(0).padStart(5)} s   budget ${TOTAL_BUDGET_S} s${totalS > TOTAL_BUDGET_S ? '   OVER BUDGET' : ''}\n`,
);
const fileTimes = results
  .flatMap((d) => d.files.map((f) => ({ ...f, group: d.job.group, ok: d.ok })))
  .sort((a, b) => b.seconds - a.seconds);
process.stdout.write('slowest files:\n');
for (const f of fileTimes.slice(0, 10))
  process.stdout.write(`  ${f.seconds.toFixed(1).padStart(7)} s  ${f.file}\n`);

mkdirSync(reports, { recursive: true });
writeFileSync(
  path.join(reports, 'test-times.json'),
  `${JSON.stringify(
    {
      totalS: Math.round(totalS * 10) / 10,
      budgetS: TOTAL_BUDGET_S,
      tiers: Object.fromEntries([...tierSeconds].map(([k, v]) => [k, Math.round(v * 10) / 10])),
      files: results
        .map((d) => ({
          file: d.job.label,
          tier: d.job.group,
          seconds: Math.round(d.seconds * 10) / 10,
          ok: d.ok,
        }))
        .sort((a, b) => b.seconds - a.seconds),
    },
    null,
    2,
  )}\n`,
);

rmSync(countsDir, { recursive: true, force: true });
const failedFiles = results.filter((d) => !d.ok);
if (failedFiles.length > 0) {
  process.stdout.write('\nfailed:\n');
  for (const d of failedFiles) process.stdout.write(`  ${d.job.label}\n`);
}
const passed = results.reduce((a, d) => a + d.passed, 0);
const failed = results.reduce((a, d) => a + d.failed, 0);
if (results.length === 0) {
  for (const release of releases) release();
  process.stdout.write('\nno test matched\n');
  process.exit(1);
}
for (const release of releases) release();
process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exit(failed === 0 ? 0 : 1);
