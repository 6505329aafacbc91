/**
 * The nab bench: the streaming detector over the NAB subset in data/nab
 * (the same two steps as `sentinel nab` and `sentinel nab score`), scored
 * under NAB's three profiles. The baseline is NAB's own: the null detector is
 * 0 and a perfect one 100 on every profile, so the scores are comparable
 * across machines; only the timings depend on this one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchResults, formatSummary, runNab, scoreNab } from '../../agents/detector/index.ts';

const root = path.resolve(import.meta.dirname, '..', '..');

export async function run(): Promise<{ bench: string; results: Record<string, number> }> {
  const out = mkdtempSync(path.join(tmpdir(), 'sentinel-nab-'));
  try {
    const started = performance.now();
    const summary = runNab({ dataDir: path.join(root, 'data', 'nab', 'data'), outDir: out });
    const detected = performance.now();
    const scores = scoreNab(out, path.join(root, 'data', 'nab', 'windows.json'));
    const scored = performance.now();
    process.stderr.write(`${formatSummary(scores)}\n`);
    const detectS = (detected - started) / 1000;
    return {
      bench: 'nab',
      results: {
        ...benchResults(scores),
        detect_s: Math.round(detectS * 100) / 100,
        score_s: Math.round((scored - detected) / 10) / 100,
        rows_per_s: Math.round(summary.rows / detectS),
      },
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
