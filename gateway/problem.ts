/**
 * Problem details (RFC 9457) and input validation at the edge. Every failure
 * leaves the gateway as `application/problem+json` with `type`, `title`,
 * `status`, `detail` and `instance` (the request id, to find the log line);
 * validation failures add `issues` naming each field. Nothing else of an
 * error (its cause, its stack) ever reaches the response.
 */
import type { Context } from 'hono';
import type { z } from 'zod';
import { HttpProblem } from './context.ts';
import type { GatewayEnv, ProblemStatus } from './context.ts';

/** Media type of every error response. */
export const PROBLEM_JSON = 'application/problem+json';

/** Prefix of every problem `type`: a URN, since the codes are not web pages. */
export const PROBLEM_TYPE_PREFIX = 'urn:sentinel:problem:';

const TITLES: Readonly<Record<ProblemStatus, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The body of a problem response. */
export interface ProblemBody {
  readonly type: string;
  readonly title: string;
  readonly status: ProblemStatus;
  readonly detail: string;
  readonly instance: string;
  readonly [extension: string]: unknown;
}

/** The body `problem` becomes for the request `requestId`. */
export function problemBody(problem: HttpProblem, requestId: string): ProblemBody {
  // Extensions first: they can never overwrite the standard members.
  return {
    ...problem.extensions,
    type: `${PROBLEM_TYPE_PREFIX}${problem.code}`,
    title: TITLES[problem.status],
    status: problem.status,
    detail: problem.message,
    instance: requestId,
  };
}

/** A problem response: the body, its media type and the problem's headers. */
export function problemResponse(problem: HttpProblem, requestId: string): Response {
  return new Response(JSON.stringify(problemBody(problem, requestId)), {
    status: problem.status,
    headers: { ...problem.headers, 'content-type': PROBLEM_JSON, 'x-request-id': requestId },
  });
}

/** One validation issue as the problem body lists it. */
export interface ValidationIssue {
  readonly path: string;
  readonly message: string;
}

/** Issues shown per problem; the rest are counted, so a hostile input cannot make a huge response. */
const MAX_ISSUES = 20;

/** A 400 naming what in `where` (body, query, path) does not fit. */
export function invalid(where: string, error: z.ZodError): HttpProblem {
  const issues: ValidationIssue[] = error.issues.slice(0, MAX_ISSUES).map((i) => ({
    path: i.path.map(String).join('.').slice(0, 256),
    message: i.message.slice(0, 512),
  }));
  const first = issues[0];
  const detail =
    first === undefined
      ? `the ${where} is invalid`
      : `the ${where} is invalid: ${first.path === '' ? '' : `${first.path}: `}${first.message}`;
  return new HttpProblem(400, 'invalid_request', detail, {
    extensions: {
      issues,
      ...(error.issues.length > MAX_ISSUES ? { moreIssues: error.issues.length - MAX_ISSUES } : {}),
    },
  });
}

/** `value` parsed by `schema`, or a 400 problem naming the fields. */
export function parseWith<S extends z.ZodType>(where: string, schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw invalid(where, r.error);
  return r.data;
}

/**
 * How deeply a request body's arrays and objects may nest. Every schema the
 * gateway reads needs far less (OTLP attributes are the deepest, at about a
 * dozen); recursive schemas (OTLP's AnyValue) would otherwise recurse once per
 * level and overflow the stack on a hostile body.
 */
export const MAX_JSON_DEPTH = 32;

/** The deepest nesting of arrays and objects in JSON `text` (strings skipped), counted without recursion. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c)
        i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x7b || ch === 0x5b) max = Math.max(max, ++depth);
    else if (ch === 0x7d || ch === 0x5d) depth--;
  }
  return max;
}

/** A request body's text as JSON: 400 when empty, not JSON, or nested deeper than {@link MAX_JSON_DEPTH}. */
export function parseJsonText(text: string): unknown {
  if (text.trim() === '')
    throw new HttpProblem(400, 'invalid_json', 'the request body is empty: a JSON document is required');
  if (jsonDepth(text) > MAX_JSON_DEPTH)
    throw new HttpProblem(
      400,
      'invalid_json',
      `the request body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`,
    );
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new HttpProblem(400, 'invalid_json', 'the request body is not valid JSON', { cause });
  }
}

/** The JSON body, parsed and validated; 400 when it is not JSON, too deep, or does not fit. */
export async function jsonBody<S extends z.ZodType>(c: Context<GatewayEnv>, schema: S): Promise<z.output<S>> {
  return parseWith('body', schema, parseJsonText(await c.req.text()));
}

/** The query string, validated (each parameter once: a repeated one is a 400). */
export function query<S extends z.ZodType>(c: Context<GatewayEnv>, schema: S): z.output<S> {
  const all = c.req.queries();
  const single: Record<string, string> = {};
  for (const [k, vs] of Object.entries(all)) {
    if (vs.length > 1)
      throw new HttpProblem(400, 'invalid_request', `the query parameter ${k.slice(0, 64)} is repeated`);
    if (vs[0] !== undefined) single[k] = vs[0];
  }
  return parseWith('query', schema, single);
}

/** The path parameters, validated. */
export function params<S extends z.ZodType>(c: Context<GatewayEnv>, schema: S): z.output<S> {
  return parseWith('path', schema, c.req.param());
}
