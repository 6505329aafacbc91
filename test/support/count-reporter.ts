/**
 * A node:test reporter that counts leaf tests (not suites) and sums the time
 * of each file's top-level tests, and writes
 * `{ "passed": N, "failed": N, "fileMs": { "<file>": ms } }`, read by
 * test/run.ts for the closing line and the slowest files.
 */
interface TestEvent {
  type: string;
  data: {
    details?: { type?: string; duration_ms?: number };
    skip?: unknown;
    todo?: unknown;
    file?: string;
    nesting?: number;
  };
}

export default async function* countReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  let passed = 0;
  let failed = 0;
  const fileMs: Record<string, number> = {};
  for await (const event of source) {
    const { data } = event;
    if ((event.type === 'test:pass' || event.type === 'test:fail') && data.nesting === 0 && data.file)
      fileMs[data.file] = (fileMs[data.file] ?? 0) + (data.details?.duration_ms ?? 0);
    if (data.details?.type === 'suite') continue;
    if (event.type === 'test:pass' && !data.skip && !data.todo) passed++;
    else if (event.type === 'test:fail') failed++;
  }
  yield JSON.stringify({ passed, failed, fileMs });
}
