import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../config/index.ts';
import { Supervisor } from '../../deploy/index.ts';
import { eventually } from '../support/harness.ts';

const log = createLogger('silent');

describe('supervisor', () => {
  test('supervisor - a child that dies is restarted, with a growing delay; stop ends every child', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sentinel-sup-'));
    try {
      const script = path.join(dir, 'child.mjs');
      // "flaky" exits at once; "steady" runs until SIGTERM.
      writeFileSync(
        script,
        `const mode = process.argv[2];
         if (mode === 'flaky') { process.exit(3); }
         process.on('SIGTERM', () => process.exit(0));
         setInterval(() => {}, 1000);`,
      );
      const sup = new Supervisor(
        ['flaky', 'steady'].map((mode) => ({
          name: mode,
          command: process.execPath,
          args: [script, mode],
          env: {},
          logFile: path.join(dir, `${mode}.log`),
        })),
        log,
      );
      const started = Date.now();
      sup.start();
      try {
        // Restarted after 1 s, then 2 s: its third exit comes no sooner than ~3 s after the first start.
        await eventually(
          () => (sup.children().find((c) => c.name === 'flaky')!.restarts >= 3 ? true : undefined),
          15_000,
          'three exits',
        );
        assert.ok(Date.now() - started >= 2900, 'backoff doubled between restarts');
      } catch (err) {
        await sup.stop(1000);
        throw err;
      }
      const steady = sup.children().find((c) => c.name === 'steady')!;
      assert.equal(steady.restarts, 0);
      assert.ok(steady.pid !== null);
      await sup.stop(5000);
      assert.throws(() => process.kill(steady.pid!, 0), /ESRCH/, 'the steady child was stopped');
      const after = sup.children().find((c) => c.name === 'flaky')!.restarts;
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(
        sup.children().find((c) => c.name === 'flaky')!.restarts,
        after,
        'nothing restarts after stop',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
