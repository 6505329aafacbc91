/**
 * `npm test`: the stack (installed and started if needed), then the type
 * check, lint, format check and every test against the real servers. Ends with
 * the line `N passed, N failed` (the three checks count as one test each).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, repoRoot } from '../config/index.ts';
import { stackUp } from '../deploy/index.ts';
import { removeStaleTestNamespaces } from './support/harness.ts';

const bin = (name: string) => path.join(repoRoot, 'node_modules', '.bin', name);
let passed = 0;
let failed = 0;

function check(label: string, command: string, args: string[]): void {
  process.stdout.write(`\n== ${label}\n`);
  const r = spawnSync(command, args, { cwd: repoRoot, stdio: 'inherit' });
  if (r.status === 0) {
    passed++;
    process.stdout.write(`ok: ${label}\n`);
  } else {
    failed++;
    process.stdout.write(`FAILED: ${label}\n`);
  }
}

process.stdout.write('== stack\n');
const config = loadConfig();
await stackUp(config, {
  log: { info: (m) => process.stdout.write(`${m}\n`), warn: (m) => process.stdout.write(`warning: ${m}\n`) },
});

const stale = await removeStaleTestNamespaces(config);
if (stale > 0) process.stdout.write(`removed ${stale} streams left by an interrupted test run\n`);

check('typecheck', bin('tsc'), ['-p', 'tsconfig.json']);
check('lint', bin('eslint'), ['--max-warnings', '0', '.']);
check('format', bin('prettier'), ['--check', '--log-level', 'warn', '.']);

const reports = path.join(repoRoot, '.reports');
mkdirSync(reports, { recursive: true });
const counts = path.join(reports, 'test-counts.json');
rmSync(counts, { force: true });
process.stdout.write('\n== tests\n');
// One file at a time: the failover tests measure takeover times on a 2-core machine.
const r = spawnSync(
  process.execPath,
  [
    '--test',
    '--test-concurrency=1',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=./test/support/count-reporter.ts',
    `--test-reporter-destination=${counts}`,
    'test/**/*.test.ts',
  ],
  { cwd: repoRoot, stdio: 'inherit' },
);
try {
  const c = JSON.parse(readFileSync(counts, 'utf8')) as { passed: number; failed: number };
  passed += c.passed;
  failed += c.failed;
} catch {
  failed++;
  process.stdout.write('the test runner wrote no counts\n');
}
if (r.status !== 0 && failed === 0) failed++;
process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exit(failed === 0 ? 0 : 1);
