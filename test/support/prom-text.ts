/**
 * Just enough of the Prometheus text format for tests: samples as
 * `{ name, labels, value }`, and sums over the ones that match. Label values
 * with escaped quotes are handled; timestamps and exemplars are ignored.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePromText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) {
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples called `name` whose labels include every pair of `labels`. */
export function sumOf(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string | RegExp> = {},
): number {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    const match = Object.entries(labels).every(([k, v]) => {
      const actual = s.labels[k];
      return actual !== undefined && (typeof v === 'string' ? actual === v : v.test(actual));
    });
    if (match) total += s.value;
  }
  return total;
}

/** Fetches and parses a `/metrics` endpoint. */
export async function scrapeSamples(url: string): Promise<Sample[]> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return parsePromText(await res.text());
}
