/**
 * Reading the model's answers: the first JSON object in the text (text after
 * it is ignored), checked against a schema whose services and fault kinds are
 * exactly the incident's known services and the fault catalogue. An answer
 * that names anything else is refused with a reason the repair prompt quotes.
 */
import { z } from 'zod';
import { FaultKind } from '../../choreography/index.ts';
import { MAX_HYPOTHESES } from './prompt.ts';

/** A hypothesis as the analyst keeps it. */
export interface Hypothesis {
  readonly service: string;
  readonly kind: FaultKind;
  readonly why: string;
}

/** The model's conclusion, before the analyst adds the scored hypotheses. */
export interface ModelConclusion {
  readonly service: string;
  readonly kind: FaultKind;
  readonly confidence: number;
  readonly evidence: string[];
}

export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

/**
 * The first balanced JSON object in `text` (after an optional Markdown fence),
 * or undefined. Braces inside JSON strings are skipped.
 */
export function firstJsonObject(text: string): unknown {
  const start = text.indexOf('{');
  if (start < 0) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) {
      try {
        return JSON.parse(text.slice(start, i + 1)) as unknown;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function serviceSchema(knownServices: readonly string[]) {
  return z.string().refine((s) => knownServices.includes(s), {
    error: (issue) => `service ${JSON.stringify(String(issue.input).slice(0, 80))} is not a known service`,
  });
}

const kindSchema = z.string().refine((k) => (FaultKind.options as readonly string[]).includes(k), {
  error: (issue) =>
    `kind ${JSON.stringify(String(issue.input).slice(0, 80))} is not a fault kind of the catalogue`,
});

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(answer)'}: ${i.message}`)
    .join('; ');
}

function parseWith<T>(text: string, schema: z.ZodType<T>): Parsed<T> {
  const json = firstJsonObject(text);
  if (json === undefined) return { ok: false, problem: 'the answer holds no JSON object' };
  const result = schema.safeParse(json);
  return result.success ? { ok: true, value: result.data } : { ok: false, problem: describe(result.error) };
}

/**
 * Hypotheses from an answer. Entries naming an unknown service or kind are
 * dropped (the others are still useful); the answer is refused only when none
 * is left.
 */
export function parseHypotheses(text: string, knownServices: readonly string[]): Parsed<Hypothesis[]> {
  const entry = z.object({
    service: serviceSchema(knownServices),
    kind: kindSchema,
    why: z.string().max(400).catch(''),
  });
  const parsed = parseWith(text, z.object({ hypotheses: z.array(z.unknown()).max(20) }));
  if (!parsed.ok) return parsed;
  const kept: Hypothesis[] = [];
  for (const h of parsed.value.hypotheses) {
    const r = entry.safeParse(h);
    if (r.success && !kept.some((k) => k.service === r.data.service && k.kind === r.data.kind))
      kept.push({ service: r.data.service, kind: r.data.kind as FaultKind, why: r.data.why });
  }
  return kept.length > 0
    ? { ok: true, value: kept.slice(0, MAX_HYPOTHESES) }
    : { ok: false, problem: 'no hypothesis names a known service and a fault kind of the catalogue' };
}

/** The conclusion from an answer: every field checked, nothing outside the known names accepted. */
export function parseConclusion(text: string, knownServices: readonly string[]): Parsed<ModelConclusion> {
  const schema = z.object({
    service: serviceSchema(knownServices),
    kind: kindSchema,
    confidence: z.number().min(0).max(1),
    evidence: z.array(z.string().min(1).max(500)).min(1).max(10),
  });
  const parsed = parseWith(text, schema);
  return parsed.ok ? { ok: true, value: { ...parsed.value, kind: parsed.value.kind as FaultKind } } : parsed;
}
